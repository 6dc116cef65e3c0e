"""Chinese daily-life grammar of the embedded CSL-Daily-QA-like dataset.

A sentence is one or two clauses (travel, price, shopping, health, meeting, age, study, eating,
weather, work, activity) joined by ``，`` and a connective, ending in ``。``. Slots (subject, time,
place, object, food, activity, course, kin, body part, number) are filled from lexicons of
*terms* (a sign and the words that say it), drawn with Zipf-like weights so the word frequencies
have a long tail as in the real translations (docs/embedded-data.md, "Calibration"). The gloss
sequence is in sign order (time and subject first, verb last) and uses Chinese words like the
real CSL glosses; numbers are glossed as digits. A sample carries the three CSL-Daily-QA texts:
``chars`` (one character a token, punctuation as its own token), ``words`` (the segmentation)
and a question in words with ``？`` attached to the last word (``你 明天 去 哪里？``).

What the video cannot tell, as in the PHOENIX grammar: one sign for several words (他/她 are one
pointing sign, 妈妈/母亲 one sign, ...), homonym signs (:data:`HOMONYMS`), words that are not
signed (了, 的, 很, 也, the measure words, the connectives) and numbers, which occur only in the
video and the answer. Questions are composed clause by clause like the PHOENIX ones (statements
restating other clauses, then the question proper); unrelated questions share no word with the
answer.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from qbslt.data.synth import (KINDS, Clause, Said, SynthSample, Term, by_frequency, draw, join, paraphrase, pick,
                              question_parts, say)


def term(forms: str, gloss: str | None = None) -> Term:
    """``forms`` separated by ``|`` (each a space-separated word sequence); ``gloss`` space-separated
    (default: the first form's words)."""
    options = tuple(forms.split("|"))
    return Term(options, tuple((gloss or options[0]).split()))


def _terms(*specs) -> tuple[Term, ...]:
    return tuple(term(*s) if isinstance(s, tuple) else term(s) for s in specs)


# Subjects: (term, how a question addresses it). 我 is asked as 你, 我们 as 你们.
SUBJECTS = ((term("我"), "你"), (term("他", "他"), None), (term("她", "他"), None), (term("我们"), "你们"),
            (term("妈妈|母亲", "妈妈"), None), (term("爸爸|父亲", "爸爸"), None), (term("哥哥"), None),
            (term("姐姐"), None), (term("老师"), None), (term("朋友"), None), (term("他们", "他们"), None),
            (term("同学"), None), (term("弟弟"), None), (term("妹妹"), None), (term("小王", "王"), None))
POSSESSORS = ((term("我"), "你"), (term("他", "他"), None), (term("她", "他"), None), (term("小王", "王"), None))
TIMES = _terms("今天", "明天", "昨天", "周末", "下午", "晚上", "上午", "早上", "中午", "后天", "现在",
               ("星期一", "星期 1"), ("星期二", "星期 2"), ("星期三", "星期 3"), ("星期四", "星期 4"), ("星期五", "星期 5"),
               ("星期六", "星期 6"), ("星期天|星期日", "星期 天"))
PLACES = _terms("北京", "上海", "公园", "医院", "银行", "超市", "学校", "图书馆", "商店", "饭店", "电影院", "火车站",
                "机场", "邮局", "书店", "公司", "广州", "深圳", "南京", ("朋友 家", "朋友 家"))
CITIES = tuple(p for p in PLACES if p.gloss[0] in ("北京", "上海", "广州", "深圳", "南京"))
SHOPS = _terms("超市", "商店", "书店", ("网上", "网 上"))
MEETING_PLACES = _terms("公园", "饭店", "学校", "图书馆", "门口", "火车站")
STUDY_PLACES = _terms("学校", "图书馆", "家", "教室", "宿舍")
WORK_PLACES = _terms("医院", "银行", "学校", "公司", "工厂", "商店", "超市")
# Objects with their measure word (which the price template needs).
OBJECTS = tuple((term(o), m) for o, m in (
    ("苹果", "个"), ("香蕉", "根"), ("衣服", "件"), ("书", "本"), ("鞋", "双"), ("面包", "个"), ("椅子", "把"),
    ("手机", "个"), ("帽子", "顶"), ("电脑", "台"), ("杯子", "个"), ("雨伞", "把"), ("自行车", "辆"), ("书包", "个"),
    ("裤子", "条")))
FOODS = _terms("面条", "米饭", "饺子", "包子", "苹果", "香蕉", "鸡蛋", "水果", "鱼", ("鸡肉", "鸡 肉"), "火锅",
               ("青菜|蔬菜", "菜"))
ACTIVITIES = _terms(("打 篮球", "篮球"), ("踢 足球", "足球"), ("看 电影", "电影 看"), ("看 书", "书 看"), ("游泳", "游泳"),
                    ("跑步", "跑步"), ("做 饭", "做 饭"), ("洗 衣服", "衣服 洗"), ("打扫 房间", "房间 打扫"),
                    ("唱 歌", "唱歌"), ("跳舞", "跳舞"), ("爬山", "爬山"), ("写 作业", "作业 写"))
COURSES = _terms("数学", "英语", "汉语", "历史", "音乐", "手语")
KIN = _terms("儿子", "女儿", "弟弟", "妹妹", "孩子", "哥哥")
BODY_PARTS = _terms("头", "肚子", "牙", "腿", "嗓子", "脚")
WEATHER = _terms(("很 热|热", "热"), ("很 冷|冷", "冷"), ("很 好|不错", "好"), ("暖和", "暖和"), ("凉快", "凉快"),
                 ("下 雨|有 雨", "雨"), ("下 雪|有 雪", "雪"), ("刮 风|有 风", "风"))
NUMBERS = tuple(term(n, g) for n, g in (("三", "3"), ("四", "4"), ("五", "5"), ("六", "6"), ("七", "7"), ("八", "8"),
                                        ("九", "9"), ("十", "10"), ("两", "2"), ("十一", "11"), ("十二", "12"),
                                        ("十五", "15"), ("二十", "20"), ("五十", "50")))
NUMBER_WORDS = tuple(n.forms[0] for n in NUMBERS)
CLOCK_NUMBERS = NUMBERS[:8] + NUMBERS[9:11]  # two .. twelve o'clock
AGE_NUMBERS = NUMBERS[:13]

# Homonym signs: gloss -> the gloss whose motion pattern it shares (the renderer's pattern key).
HOMONYMS = {"上海": "北京", "图书馆": "学校", "香蕉": "苹果", "商店": "超市", "足球": "篮球", "米饭": "面条",
            "妹妹": "弟弟"}
_HOMONYM_GLOSSES = frozenset(HOMONYMS) | frozenset(HOMONYMS.values())

UNRELATED_QUESTIONS = tuple(q.split() for q in (
    "外面 下雨 了 吗", "你 喜欢 什么 颜色", "这 部 电影 好看 吗", "你 会 游泳 吗", "你 家 有 几 口 人",
    "你 的 电话 号码 是 多少", "你 喜欢 喝 茶 吗", "现在 天气 冷 不 冷", "谁 赢 了 比赛", "哪个 电视 节目 好看",
    "这 首 歌 叫 什么 名字", "你 养 过 小狗 吗",
))
# Connectives between two clauses (words; none of them signed).
CONNECTIVES = ("然后", "但是", "所以", "还", "也", "因为", "")
# Share of the other clauses a question restates, and of restated slots said with the answer's words.
RESTATED = 0.7
KEEP = 0.6


def _say(rng: np.random.Generator, t: Term) -> Said:
    return say(rng, t, _HOMONYM_GLOSSES)


def _content(rng: np.random.Generator, terms: tuple[Term, ...], homonym: bool, exponent: float = 0.9) -> Said:
    """A content filler; a homonym one when the question must disambiguate it."""
    if homonym:
        return _say(rng, pick(rng, tuple(t for t in terms if _HOMONYM_GLOSSES.intersection(t.gloss))))
    return _say(rng, draw(rng, terms, exponent))


def _subject(rng: np.random.Generator, options=SUBJECTS) -> tuple[Said, str]:
    """A subject and how a question addresses it (我 -> 你)."""
    t, asked = draw(rng, options, 1.0)
    s = _say(rng, t)
    return s, asked or s.words


def _para(rng: np.random.Generator, said: Said | None) -> str | None:
    return paraphrase(rng, said, KEEP)


def _signs(*parts: Said | None) -> list[str]:
    return [g for p in parts if p for g in p.gloss]


def _time(rng: np.random.Generator) -> Said | None:
    return _say(rng, draw(rng, TIMES, 1.0)) if rng.random() < 0.75 else None


def _travel(rng, homonym):
    (subj, you), time, place = _subject(rng), _time(rng), _content(rng, PLACES, homonym)
    purpose = _say(rng, draw(rng, ACTIVITIES, 1.0)) if rng.random() < 0.3 else None
    t, qt, qp = (time.words if time else None), _para(rng, time), _para(rng, place)
    return Clause(
        join(subj.words, t, "要" if rng.random() < 0.3 else None, "去", place.words, purpose.words if purpose else None),
        _signs(time, subj, place) + ["去"] + _signs(purpose),
        ask=[join(you, qt, "去", "哪里"), join(you, qt, "要", "去", "哪儿"), join(you, "什么", "时候", "去", qp)],
        restate=[join(you, qt, "去", qp, "吗"), join(you, qt, "是", "不", "是", "去", qp)],
        state=[join(you, qt, "去", qp)],
        name=[join(you, "什么", "时候", "去", place.words), join("谁", qt, "去", place.words)] if place.homonym else [])


def _price(rng, homonym):
    obj = _content(rng, tuple(o for o, _ in OBJECTS), homonym)
    measure = dict(OBJECTS)[obj.term]
    number = NUMBER_WORDS[int(rng.integers(len(NUMBER_WORDS)))]
    gloss = dict(zip(NUMBER_WORDS, (n.gloss[0] for n in NUMBERS)))[number]
    return Clause(
        join("这", measure, obj.words, number, "块", "钱"),
        ["这", *obj.gloss, "钱", gloss],
        ask=[join("这", measure, obj.words, "多少", "钱"), join("这", measure, "多少", "钱")],
        restate=[join("这", measure, obj.words, "贵", "吗")],
        state=[join("这", measure, obj.words, "不", "便宜")],
        name=[join(obj.words, "怎么", "卖"), join(obj.words, "多少", "钱")] if obj.homonym else [])


def _shopping(rng, homonym):
    (subj, you), time, shop = _subject(rng), _time(rng), _say(rng, draw(rng, SHOPS, 1.0))
    obj = _content(rng, tuple(o for o, _ in OBJECTS), homonym)
    t, qt, qs, qo = (time.words if time else None), _para(rng, time), _para(rng, shop), _para(rng, obj)
    return Clause(
        join(subj.words, t, "在", shop.words, "买", "了", obj.words),
        _signs(time, subj, shop, obj) + ["买"],
        ask=[join(you, qt, "买", "了", "什么"), join(you, qt, "在", "哪里", "买", "东西")],
        restate=[join(you, qt, "在", qs, "买", "了", qo, "吗")],
        state=[join(you, qt, "在", qs, "买", "了", qo)],
        name=[join(you, "在", "哪里", "买", "的", obj.words), join(you, "什么", "时候", "买", "了", obj.words)]
        if obj.homonym else [])


def _health(rng, homonym):
    (subj, you), body = _subject(rng), _say(rng, draw(rng, BODY_PARTS, 1.0))
    qb = _para(rng, body)
    return Clause(
        join(subj.words, body.words, "很" if rng.random() < 0.4 else None, "疼", "，", "要", "去", "医院"),
        _signs(subj, body) + ["疼", "医院", "去"],
        ask=[join(you, "怎么", "了"), join(you, "哪里", "不", "舒服")],
        restate=[join(you, qb, "疼", "要", "去", "医院", "吗")],
        state=[join(you, qb, "疼")])


def _meeting(rng, homonym):
    time, place = _time(rng), _content(rng, MEETING_PLACES, homonym)
    hour = CLOCK_NUMBERS[int(rng.integers(len(CLOCK_NUMBERS)))]
    t, qt, qp = (time.words if time else None), _para(rng, time), _para(rng, place)
    return Clause(
        join("我们", t, hour.forms[0], "点", "在", place.words, "见面"),
        _signs(time) + [*hour.gloss, "点", "我们", *place.gloss, "见面"],
        ask=[join("我们", qt, "几", "点", "见面"), join("我们", qt, "在", "哪里", "见面")],
        restate=[join("我们", qt, "在", qp, "见面", "吗")],
        state=[join("我们", qt, "在", qp, "见面")],
        name=[join("我们", "几", "点", "在", place.words, "见面")] if place.homonym else [])


def _age(rng, homonym):
    (owner, you), kin = _subject(rng, POSSESSORS), _say(rng, draw(rng, KIN, 1.0))
    number = AGE_NUMBERS[int(rng.integers(len(AGE_NUMBERS)))]
    qk = _para(rng, kin)
    return Clause(
        join(owner.words, kin.words, "今年", number.forms[0], "岁", "了"),
        _signs(owner, kin) + ["年龄", *number.gloss],
        ask=[join(you, qk, "今年", "多", "大"), join(you, qk, "几", "岁", "了")],
        restate=[join(you, qk, "今年", "上", "学", "了", "吗")],
        state=[join(you, qk, "今年", "上", "学")])


def _study(rng, homonym):
    (subj, you), time = _subject(rng), _time(rng)
    place, course = _content(rng, STUDY_PLACES, homonym), _say(rng, draw(rng, COURSES, 1.0))
    t, qt, qp, qc = (time.words if time else None), _para(rng, time), _para(rng, place), _para(rng, course)
    return Clause(
        join(subj.words, t, "在", place.words, "学习", course.words),
        _signs(time, subj, place, course) + ["学习"],
        ask=[join(you, qt, "在", "哪里", "学习"), join(you, qt, "学习", "什么")],
        restate=[join(you, qt, "在", qp, "学习", qc, "吗")],
        state=[join(you, qt, "在", qp, "学习", qc)],
        name=[join(you, "在", place.words, "学习", "什么")] if place.homonym else [])


def _eat(rng, homonym):
    (subj, you), time, food = _subject(rng), _time(rng), _content(rng, FOODS, homonym)
    verb = pick(rng, ("想 吃", "喜欢 吃", "吃 了"))
    t, qt, qf = (time.words if time else None), _para(rng, time), _para(rng, food)
    return Clause(
        join(subj.words, t, verb, food.words),
        _signs(time, subj) + ["想" if verb.startswith("想") else "喜欢" if verb.startswith("喜欢") else "吃"]
        + _signs(food),
        ask=[join(you, qt, verb, "什么"), join(you, qt, "想", "吃", "什么")],
        restate=[join(you, qt, verb, qf, "吗")],
        state=[join(you, qt, verb, qf)],
        name=[join("谁", qt, verb, food.words), join(you, "什么", "时候", verb, food.words)] if food.homonym else [])


def _weather(rng, homonym):
    time, place = _time(rng), (_say(rng, draw(rng, CITIES, 1.0)) if rng.random() < 0.4 else None)
    w = _say(rng, draw(rng, WEATHER, 1.0))
    t, qt, qp, qw = (time.words if time else None), _para(rng, time), _para(rng, place), _para(rng, w)
    return Clause(
        join(t, place.words if place else None, "天气", w.words) if not w.words.startswith(("下", "有", "刮"))
        else join(t, place.words if place else None, w.words),
        _signs(time, place) + ["天气", *w.gloss],
        ask=[join(qt, qp, "天气", "怎么样"), join(qt, qp, "天气", "好", "吗")],
        restate=[join(qt, qp, qw, "吗")],
        state=[join(qt, qp, qw)])


def _work(rng, homonym):
    (subj, you), place = _subject(rng), _content(rng, WORK_PLACES, homonym)
    years = NUMBERS[int(rng.integers(len(NUMBERS)))] if rng.random() < 0.4 else None
    qp = _para(rng, place)
    return Clause(
        join(subj.words, "在", place.words, "工作", *(("了", years.forms[0], "年") if years else ())),
        _signs(subj, place) + ["工作"] + ([*years.gloss, "年"] if years else []),
        ask=[join(you, "在", "哪里", "工作"), join(you, "做", "什么", "工作")],
        restate=[join(you, "在", qp, "工作", "吗")],
        state=[join(you, "在", qp, "工作")],
        name=[join("谁", "在", place.words, "工作")] if place.homonym else [])


def _activity(rng, homonym):
    (subj, you), time, act = _subject(rng), _time(rng), _say(rng, draw(rng, ACTIVITIES, 1.0))
    together = "一起" if rng.random() < 0.2 else None
    t, qt, qa = (time.words if time else None), _para(rng, time), _para(rng, act)
    return Clause(
        join(subj.words, t, together, "要" if rng.random() < 0.4 else None, act.words),
        _signs(time, subj) + (["一起"] if together else []) + _signs(act),
        ask=[join(you, qt, "要", "做", "什么"), join(you, qt, "干", "什么")],
        restate=[join(you, qt, together, qa, "吗")],
        state=[join(you, qt, together, qa)],
        name=[join("谁", qt, act.words), join(you, "什么", "时候", act.words)]
        if _HOMONYM_GLOSSES.intersection(act.gloss) else [])


Template = Callable[[np.random.Generator, bool], Clause]
TEMPLATES: tuple[tuple[Template, float], ...] = (
    (_travel, 0.13), (_price, 0.08), (_shopping, 0.1), (_health, 0.06), (_meeting, 0.08), (_age, 0.06),
    (_study, 0.09), (_eat, 0.12), (_weather, 0.08), (_work, 0.08), (_activity, 0.12),
)
DISAMBIGUATING_TEMPLATES = tuple((t, w) for t, w in TEMPLATES if t not in (_health, _age, _weather, _activity))
CLAUSES = (0.55, 0.45)  # one or two clauses


def split_chars(words: list[str]) -> list[str]:
    """Character tokens of a word sequence (each punctuation mark is one character already)."""
    return [char for word in words for char in word]


def format_question(words: list[str]) -> str:
    """Words joined by spaces with ``？`` attached to the last word, as in CSL-Daily-QA."""
    return " ".join(words) + "？"


def _choose_template(rng: np.random.Generator, templates: tuple[tuple[Template, float], ...]) -> Template:
    weights = np.array([w for _, w in templates])
    return templates[int(rng.choice(len(templates), p=weights / weights.sum()))][0]


def _unrelated(rng: np.random.Generator, words: list[str]) -> list[str]:
    answer = set(words)
    return pick(rng, [q for q in UNRELATED_QUESTIONS if not answer.intersection(q)])


def sample(rng: np.random.Generator, kind: str) -> SynthSample:
    """One sentence, its sign-order gloss and a question of ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown question kind {kind!r} (expected one of {', '.join(KINDS)})")
    count = 1 + int(rng.choice(len(CLAUSES), p=CLAUSES))
    clauses = []
    for i in range(count):
        disambiguating = kind == "disambiguating" and i == 0
        clauses.append(_choose_template(rng, DISAMBIGUATING_TEMPLATES if disambiguating else TEMPLATES)(rng, disambiguating))
    words: list[str] = []
    gloss: list[str] = []
    for i, clause in enumerate(clauses):
        if i:
            words += ["，", *pick(rng, CONNECTIVES).split()]
        words += clause.words.split()
        gloss += clause.gloss
    words.append("。")
    if kind == "unrelated":
        question = _unrelated(rng, words)
    else:
        question = " ， ".join(question_parts(rng, kind, clauses, RESTATED)).split()
    chars = " ".join(split_chars(words))
    return SynthSample(translation=chars, gloss=gloss, question=format_question(question), kind=kind,
                       chars=chars, words=" ".join(words))


def _vocabulary() -> tuple[str, ...]:
    terms = (tuple(t for t, _ in SUBJECTS) + tuple(t for t, _ in POSSESSORS) + TIMES + PLACES + SHOPS + MEETING_PLACES
             + STUDY_PLACES + WORK_PLACES + tuple(o for o, _ in OBJECTS) + FOODS + ACTIVITIES + COURSES + KIN
             + BODY_PARTS + WEATHER + NUMBERS)
    fixed = ("去", "这", "钱", "买", "疼", "医院", "点", "我们", "见面", "年龄", "学习", "想", "喜欢", "吃", "天气",
             "工作", "年", "一起")
    return tuple(dict.fromkeys([g for t in terms for g in t.gloss] + list(fixed)))


# Every gloss the grammar can emit, most frequent first (the renderer's designed pattern index).
GLOSS_VOCAB = by_frequency(_vocabulary(), sample)
