"""Chinese daily-life grammar of the embedded CSL-Daily-QA-like dataset.

Seven templates (travel, price, shopping, health, meeting, age, study) filled from small slot
vocabularies: subject, time, place, object, course, number. The gloss sequence is in sign
order (time and subject first, verb last) and uses Chinese words like the real CSL glosses;
numbers are glossed as digits. A sample carries the three CSL-Daily-QA texts: ``chars`` (one
character a token, punctuation as its own token), ``words`` (the word segmentation) and a
question in words with the final ``？`` attached to the last word (``你 明天 去 哪里？``).

As in the PHOENIX grammar: numbers occur only in the video, three homonym pairs of places and
objects share one sign (:data:`HOMONYMS`), disambiguating questions name the right word, and
unrelated questions share no word with the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from qbslt.data.synth import KINDS, SynthSample

@dataclass(frozen=True)
class Slot:
    """One filler: its words in the answer, in a question (我 is asked as 你), and its signs."""

    words: tuple[str, ...]
    asked: tuple[str, ...]
    gloss: tuple[str, ...]


def _slot(words: str, asked: str | None = None, gloss: str | None = None) -> Slot:
    return Slot(tuple(words.split()), tuple((asked or words).split()), tuple((gloss or words).split()))


SUBJECTS = tuple(_slot(*s) for s in (("我", "你"), ("我们", "你们"), ("他",), ("她",), ("妈妈",), ("哥哥",), ("老师",)))
POSSESSORS = (_slot("我", "你"), _slot("他"), _slot("她"))
TIMES = tuple(_slot(t) for t in ("今天", "明天", "昨天", "周末", "下午", "晚上"))
DESTINATIONS = tuple(_slot(p) for p in ("北京", "上海", "公园", "医院", "银行", "超市", "学校", "图书馆"))
SHOPS = (_slot("超市"), _slot("商店"))
MEETING_PLACES = tuple(_slot(p) for p in ("公园", "饭店", "学校", "图书馆"))
STUDY_PLACES = (_slot("学校"), _slot("图书馆"))
# Objects with their measure word (which the price template needs).
OBJECTS = tuple((_slot(o), m) for o, m in (("苹果", "个"), ("香蕉", "根"), ("衣服", "件"), ("书", "本"),
                                           ("鞋", "双"), ("面包", "个")))
COURSES = tuple(_slot(c) for c in ("数学", "英语", "汉语", "历史"))
KIN = tuple(_slot(k) for k in ("弟弟", "妹妹", "女儿", "儿子"))
BODY_PARTS = tuple(_slot(b) for b in ("头", "肚子", "牙", "腿"))
NUMBERS = tuple(_slot(n, gloss=g) for n, g in (("三", "3"), ("四", "4"), ("五", "5"), ("六", "6"), ("七", "7"),
                                               ("八", "8"), ("九", "9"), ("十", "10"), ("十五", "15"), ("二十", "20")))
NUMBER_WORDS = tuple(n.words[0] for n in NUMBERS)
CLOCK_NUMBERS = NUMBERS[:8]  # three .. ten o'clock

# Homonym signs: gloss -> the gloss whose motion pattern it shares (the renderer's pattern key).
HOMONYMS = {"上海": "北京", "图书馆": "学校", "香蕉": "苹果"}
_HOMONYM_GLOSSES = frozenset(HOMONYMS) | frozenset(HOMONYMS.values())

UNRELATED_QUESTIONS = tuple(q.split() for q in (
    "外面 下雨 了 吗", "你 喜欢 什么 颜色", "这 部 电影 好看 吗", "你 会 游泳 吗", "你 家 有 几 口 人",
    "你 的 电话 号码 是 多少", "你 喜欢 喝 茶 吗", "现在 天气 冷 不 冷",
))


@dataclass
class _Draft:
    """A filled template: answer words, gloss and, per question kind, candidate questions (words)."""

    words: list[str]
    gloss: list[str]
    questions: dict[str, list[list[str]]] = field(default_factory=dict)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _content(rng: np.random.Generator, slots: tuple[Slot, ...], homonym: bool) -> Slot:
    """A content filler; a homonym one when the question must disambiguate it."""
    if homonym:
        slots = tuple(s for s in slots if _HOMONYM_GLOSSES.intersection(s.gloss))
    return _pick(rng, slots)


def _travel(rng: np.random.Generator, homonym: bool) -> _Draft:
    subj, time, place = _pick(rng, SUBJECTS), _pick(rng, TIMES), _content(rng, DESTINATIONS, homonym)
    return _Draft(
        [*subj.words, *time.words, "去", *place.words, "。"],
        [*time.gloss, *subj.gloss, *place.gloss, "去"],
        {"partial": [[*subj.asked, *time.words, "去", "哪里"], [*subj.asked, "想", "去", "哪里"]],
         "disambiguating": [[*subj.asked, "什么", "时候", "去", *place.words], ["谁", *time.words, "去", *place.words]],
         "yes_no": [[*subj.asked, *time.words, "去", *place.words, "吗"]]})


def _price(rng: np.random.Generator, homonym: bool) -> _Draft:
    obj = _content(rng, tuple(o for o, _ in OBJECTS), homonym)
    measure = dict(OBJECTS)[obj]
    number = _pick(rng, NUMBERS)
    return _Draft(
        ["这", measure, *obj.words, *number.words, "块", "钱", "。"],
        ["这", *obj.gloss, "钱", *number.gloss],
        {"partial": [["这", measure, *obj.words, "多少", "钱"], ["这", measure, "多少", "钱"]],
         "disambiguating": [[*obj.words, "怎么", "卖"], [*obj.words, "多少", "钱"]],
         "yes_no": [["这", measure, *obj.words, "贵", "吗"]]})


def _shopping(rng: np.random.Generator, homonym: bool) -> _Draft:
    subj, time, shop = _pick(rng, SUBJECTS), _pick(rng, TIMES), _pick(rng, SHOPS)
    obj = _content(rng, tuple(o for o, _ in OBJECTS), homonym)
    return _Draft(
        [*subj.words, *time.words, "在", *shop.words, "买", "了", *obj.words, "。"],
        [*time.gloss, *subj.gloss, *shop.gloss, *obj.gloss, "买"],
        {"partial": [[*subj.asked, *time.words, "买", "了", "什么"], [*subj.asked, *time.words, "在", "哪里", "买", "东西"]],
         "disambiguating": [[*subj.asked, "在", "哪里", "买", "的", *obj.words],
                            [*subj.asked, "什么", "时候", "买", "了", *obj.words]],
         "yes_no": [[*subj.asked, *time.words, "在", *shop.words, "买", "了", *obj.words, "吗"]]})


def _health(rng: np.random.Generator, homonym: bool) -> _Draft:
    subj, body = _pick(rng, SUBJECTS), _pick(rng, BODY_PARTS)
    return _Draft(
        [*subj.words, *body.words, "疼", "，", "要", "去", "医院", "。"],
        [*subj.gloss, *body.gloss, "疼", "医院", "去"],
        {"partial": [[*subj.asked, "怎么", "了"], [*subj.asked, "哪里", "不", "舒服"]],
         "yes_no": [[*subj.asked, *body.words, "疼", "要", "去", "医院", "吗"]]})


def _meeting(rng: np.random.Generator, homonym: bool) -> _Draft:
    time, hour, place = _pick(rng, TIMES), _pick(rng, CLOCK_NUMBERS), _content(rng, MEETING_PLACES, homonym)
    return _Draft(
        ["我们", *time.words, *hour.words, "点", "在", *place.words, "见面", "。"],
        [*time.gloss, *hour.gloss, "点", "我们", *place.gloss, "见面"],
        {"partial": [["我们", *time.words, "几", "点", "见面"], ["我们", *time.words, "在", "哪里", "见面"]],
         "disambiguating": [["我们", "几", "点", "在", *place.words, "见面"]],
         "yes_no": [["我们", *time.words, "在", *place.words, "见面", "吗"]]})


def _age(rng: np.random.Generator, homonym: bool) -> _Draft:
    owner, kin, number = _pick(rng, POSSESSORS), _pick(rng, KIN), _pick(rng, NUMBERS)
    return _Draft(
        [*owner.words, *kin.words, "今年", *number.words, "岁", "了", "。"],
        [*owner.gloss, *kin.gloss, "年龄", *number.gloss],
        {"partial": [[*owner.asked, *kin.words, "今年", "多", "大"], [*owner.asked, *kin.words, "几", "岁", "了"]],
         "yes_no": [[*owner.asked, *kin.words, "今年", "上", "学", "了", "吗"]]})


def _study(rng: np.random.Generator, homonym: bool) -> _Draft:
    subj, time = _pick(rng, SUBJECTS), _pick(rng, TIMES)
    place, course = _content(rng, STUDY_PLACES, homonym), _pick(rng, COURSES)
    return _Draft(
        [*subj.words, *time.words, "在", *place.words, "学习", *course.words, "。"],
        [*time.gloss, *subj.gloss, *place.gloss, *course.gloss, "学习"],
        {"partial": [[*subj.asked, *time.words, "在", "哪里", "学习"], [*subj.asked, *time.words, "学习", "什么"]],
         "disambiguating": [[*subj.asked, "在", *place.words, "学习", "什么"]],
         "yes_no": [[*subj.asked, *time.words, "在", *place.words, "学习", *course.words, "吗"]]})


Template = Callable[[np.random.Generator, bool], _Draft]
TEMPLATES: tuple[tuple[Template, float], ...] = (
    (_travel, 0.20), (_price, 0.15), (_shopping, 0.15), (_health, 0.10),
    (_meeting, 0.15), (_age, 0.10), (_study, 0.15),
)
DISAMBIGUATING_TEMPLATES = tuple((t, w) for t, w in TEMPLATES if t not in (_health, _age))


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
    return _pick(rng, [q for q in UNRELATED_QUESTIONS if not answer.intersection(q)])


def sample(rng: np.random.Generator, kind: str) -> SynthSample:
    """One sentence, its sign-order gloss and a question of ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown question kind {kind!r} (expected one of {', '.join(KINDS)})")
    disambiguating = kind == "disambiguating"
    template = _choose_template(rng, DISAMBIGUATING_TEMPLATES if disambiguating else TEMPLATES)
    draft = template(rng, disambiguating)
    question = _unrelated(rng, draft.words) if kind == "unrelated" else _pick(rng, draft.questions[kind])
    chars = " ".join(split_chars(draft.words))
    return SynthSample(translation=chars, gloss=draft.gloss, question=format_question(question), kind=kind,
                       chars=chars, words=" ".join(draft.words))


def _vocabulary() -> tuple[str, ...]:
    slots = (SUBJECTS + POSSESSORS + TIMES + DESTINATIONS + SHOPS + MEETING_PLACES + STUDY_PLACES
             + tuple(o for o, _ in OBJECTS) + COURSES + KIN + BODY_PARTS + NUMBERS)
    fixed = ("去", "这", "钱", "买", "疼", "医院", "点", "见面", "年龄", "学习")
    return tuple(dict.fromkeys([g for s in slots for g in s.gloss] + list(fixed)))


# Every gloss the grammar can emit, in a fixed order (the renderer's designed pattern index).
GLOSS_VOCAB = _vocabulary()
