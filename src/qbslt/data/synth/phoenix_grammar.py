"""German weather-forecast grammar of the embedded PHOENIX-2014T-QA-like dataset.

A sentence is one to three clauses (weather, weather change, temperature, frost, wind, how it
feels, pressure system, outlook) joined by a connective. Slots (time, region, phenomenon,
extent, number, wind strength and direction, ...) are filled from lexicons whose entries are
*terms*: a sign (gloss) and the ways a forecast says it. Terms and their spoken forms are drawn
with Zipf-like weights, so the word frequencies have a long tail as in the real translations
(docs/embedded-data.md, "Calibration"). The gloss sequence is in *sign* order (time, region,
content), upper case, umlauts spelt AE/OE/UE.

What the video cannot tell, as in the real data:

* one sign, several words: ``REGEN`` is said *regen*, *regenfälle* or *niederschläge*; the
  direction sign ``NORD`` is *im norden* or *aus nord*; regions are often signed with the
  generic pointing sign ``REGION``;
* homonym signs (:data:`HOMONYMS`) share one motion pattern (in real signing, mouthing tells
  them apart; here only the question does);
* words that are not signed at all (*hier und da*, *auch*, the connectives), and the spoken
  word order, which varies freely while the signs keep theirs;
* numbers occur only in the video and the answer: no question names a number.

Questions (kinds of ``data.synthetic.questions``) are built clause by clause, the way the real
ones read: statements restating some clauses, then the question proper about one clause.
``partial`` asks about a clause naming only its context (time, region); ``disambiguating``
names the homonym content of a clause; ``yes_no`` restates the answer as a question;
``unrelated`` is an off-topic question sharing no word with the answer. Restated words are
sometimes paraphrased with another form of the same term.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from qbslt.data.synth import (KINDS, Clause, Said, SynthSample, Term, by_frequency, draw, join, paraphrase, pick,
                              question_parts, say, zipf)


def to_gloss(word: str) -> str:
    """PHOENIX gloss spelling of a German word: upper case, umlauts as AE/OE/UE, ß as SS."""
    return word.upper().replace("Ä", "AE").replace("Ö", "OE").replace("Ü", "UE").replace("ß", "SS")


def term(forms: str, gloss: str | None = None) -> Term:
    """``forms`` separated by ``|``; ``gloss`` space-separated (default: the first form's gloss)."""
    options = tuple(forms.split("|"))
    return Term(options, tuple((gloss or to_gloss(options[0].split()[-1])).split()))


def _terms(*specs) -> tuple[Term, ...]:
    return tuple(term(*s) if isinstance(s, tuple) else term(s) for s in specs)


DAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
# Most frequent first: the order sets the Zipf-like weights of :func:`_draw`.
TIMES = (
    term("morgen", "MORGEN"), term("heute Nacht|in der Nacht", "HEUTE NACHT"),
    *(term(f"am {d}|{d}", to_gloss(d)) for d in DAYS),
    term("am Wochenende|zum Wochenende", "WOCHENENDE"), term("tagsüber|am Tag", "TAG"),
    term("heute", "HEUTE"), term("in den nächsten Tagen|in den kommenden Tagen", "NAECHSTE TAG"),
    term("am Abend|abends", "ABEND"), term("am Nachmittag|nachmittags", "NACHMITTAG"),
)
REGIONS = (
    term("im Norden", "NORD"), term("im Süden", "SUED"), term("im Osten", "OST"), term("im Westen", "WEST"),
    term("im Nordwesten", "NORDWEST"), term("im Südosten", "SUEDOST"), term("im Nordosten", "NORDOST"),
    term("im Südwesten", "SUEDWEST"), term("an den Küsten|an der Küste", "KUESTE"),
    term("in den Alpen|an den Alpen", "ALPEN"), term("in der Mitte|in der Landesmitte", "MITTE"),
    term("im Bergland|in den Bergen", "BERG"), term("an der Nordsee", "NORDSEE"), term("an der Ostsee", "OSTSEE"),
    term("in den Mittelgebirgen", "MITTELGEBIRGE"), term("in der Nordhälfte", "NORD HAELFTE"),
    term("in der Südhälfte", "SUED HAELFTE"), term("in Bayern", "BAYERN"), term("am Rhein", "RHEIN"),
    term("in Sachsen", "SACHSEN"), term("an der Elbe", "ELBE"),
)
# Share of region mentions signed with the generic pointing sign (as the real glosses do).
POINTING = 0.2
PHENOMENA = (
    term("Regen|Regenfälle|Niederschläge", "REGEN"), term("Sonnenschein|Sonne", "SONNE"),
    term("Wolken|Bewölkung", "WOLKE"), term("Schauer|Regenschauer", "SCHAUER"),
    term("Schnee|Schneefälle", "SCHNEE"), term("Gewitter|Gewitterschauer", "GEWITTER"),
    term("Nebel|Nebelfelder", "NEBEL"), term("Glätte|Glatteis", "GLATT"),
    term("Sturm|Sturmböen", "STURM"), term("Schneeregen", "SCHNEE REGEN"), term("Nieselregen|Sprühregen", "NIESEL"),
    term("Hagel", "HAGEL"), term("Graupel|Graupelschauer", "GRAUPEL"), term("Dauerregen", "DAUER REGEN"),
    term("Wolkenlücken|Auflockerungen", "WOLKE LOCH"), term("Starkregen|Unwetter", "STARK REGEN"),
)
# Extent adverbs (signed), and words that are not signed at all (the video never shows them).
EXTENTS = _terms(("örtlich|gebietsweise", "REGION"), ("vereinzelt", "VEREINZELT"), ("teilweise|zum Teil", "TEILWEISE"),
                 ("zeitweise|immer wieder", "ZEITWEISE"), ("kräftige|heftige", "KRAEFTIG"))
UNSIGNED = ("hier und da", "auch", "noch", "wieder", "zunächst", "meist")
FEELINGS = (term("warm|wärmer", "WARM"), term("kalt|kälter", "KALT"), term("mild|milder", "MILD"),
            term("kühl|kühler", "KUEHL"), term("freundlich|freundlicher", "FREUNDLICH"),
            term("schwül", "SCHWUEL"), term("frostig", "FROST"), term("heiß", "HEISS"), term("sonnig", "SONNE"),
            term("trüb|grau", "TRUEB"))
# Wind strengths: (attributive form, adverbial form, gloss).
WINDS = (("schwacher", "schwach", "SCHWACH"), ("mäßiger", "mäßig", "MAESSIG"), ("frischer", "frisch", "FRISCH"),
         ("starker", "stark", "STARK"), ("stürmischer", "stürmisch", "STURM"))
DIRECTIONS = (term("West", "WEST"), term("Südwest", "SUEDWEST"), term("Nordwest", "NORDWEST"), term("Ost", "OST"),
              term("Nord", "NORD"), term("Süd", "SUED"), term("Nordost", "NORDOST"), term("Südost", "SUEDOST"))
SYSTEMS = _terms(("Tief|Tiefdruckgebiet", "TIEF"), ("Hoch|Hochdruckgebiet", "HOCH"), ("Tiefausläufer", "TIEF AUSLAEUFER"))
SYSTEM_ADJECTIVES = _terms(("kräftiges|kräftiger", "KRAEFTIG"), ("neues|neuer", "NEU"))
OUTLOOKS = _terms(("ähnliches Wetter", "AEHNLICH WETTER"), ("wechselhaftes Wetter|unbeständiges Wetter", "WECHSELHAFT"),
                  ("freundliches Wetter|schönes Wetter", "SCHOEN WETTER"), ("ruhiges Wetter", "RUHIG WETTER"))

# Numbers 0-25 as words; temperature ranges and frost draw from them.
NUMBER_WORDS = ("null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun", "zehn", "elf",
                "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn", "achtzehn", "neunzehn",
                "zwanzig", "einundzwanzig", "zweiundzwanzig", "dreiundzwanzig", "vierundzwanzig", "fünfundzwanzig")
NUMBERS = tuple(term(n) for n in NUMBER_WORDS)

# Homonym signs: gloss -> the gloss whose motion pattern it shares (the renderer's pattern key).
# In real signing such pairs differ by mouthing, which the rendered video does not show.
HOMONYMS = {"SCHNEE": "REGEN", "WOLKE": "NEBEL", "GEWITTER": "SCHAUER", "KALT": "WARM", "DONNERSTAG": "DIENSTAG",
            "OSTSEE": "NORDSEE", "GRAUPEL": "HAGEL", "KUEHL": "MILD"}
_HOMONYM_GLOSSES = frozenset(HOMONYMS) | frozenset(HOMONYMS.values())

# Questions with nothing to do with the forecast; one sharing no word with the answer is drawn.
UNRELATED_QUESTIONS = (
    "Wer hat das Fußballspiel gewonnen", "Wann beginnt der Spielfilm", "Was kostet ein Liter Benzin",
    "Welche Sendung kommt danach", "Wer moderiert heute die Nachrichten", "Wie heißt der neue Minister",
    "Welche Mannschaft führt die Tabelle an", "Wann öffnen die Geschäfte", "Wie teuer ist das Konzert",
    "Welcher Sender überträgt Fußball", "Wo spielt Bayern München", "Wer gewann Gold beim Skispringen",
)


# --- drawing ---------------------------------------------------------------------------------

def _form(rng: np.random.Generator, t: Term) -> str:
    return draw(rng, t.forms, FORM_EXPONENT)


def _say(rng: np.random.Generator, t: Term) -> Said:
    return say(rng, t, _HOMONYM_GLOSSES, FORM_EXPONENT)


def _style(rng: np.random.Generator, count: int) -> int:
    """Which of a template's ``count`` word orders a sentence uses: the first is the usual one."""
    return int(rng.choice(count, p=zipf(count, STYLE_EXPONENT)))


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _region(rng: np.random.Generator) -> Said:
    r = draw(rng, REGIONS, 0.9)
    return Said(r, _form(rng, r), ("REGION",) if rng.random() < POINTING else r.gloss,
                bool(_HOMONYM_GLOSSES.intersection(r.gloss)))


def _content_term(rng: np.random.Generator, terms: tuple[Term, ...], homonym: bool) -> Term:
    """A content term; a homonym one when the question must disambiguate it."""
    if homonym:
        terms = tuple(t for t in terms if _HOMONYM_GLOSSES.intersection(t.gloss))
        return pick(rng, terms)
    return draw(rng, terms, 0.9)


def _words(said: Said | None) -> str | None:
    return said.words if said else None


def _para(rng: np.random.Generator, said: Said | None) -> str | None:
    return paraphrase(rng, said, KEEP)


def _signs(*parts: Said | None) -> list[str]:
    return [g for p in parts if p for g in p.gloss]


def _weather(rng, time, region, homonym):
    c = _say(rng, _content_term(rng, PHENOMENA, homonym))
    extent = _say(rng, draw(rng, EXTENTS, 0.8)) if rng.random() < 0.3 else None
    filler = pick(rng, UNSIGNED) if rng.random() < 0.2 else None
    style = _style(rng, 5) if (time or region) else 0

    def fmt(t, r, e, content, f):
        return (join(t, "gibt es", r, f, e, content), join(r, "gibt es", t, f, e, content), join(t, r, f, e, content),
                join(t, "kommt es", r, f, "zu", e, content), join("ist", t, r, f, "mit", e, content, "zu rechnen"))[style]

    qt, qr, qc = _para(rng, time), _para(rng, region), _para(rng, c)
    qe = _para(rng, extent) if rng.random() < 0.5 else None
    return Clause(
        fmt(_words(time), _words(region), _words(extent), c.words, filler), _signs(time, region, extent, c),
        ask=[join("Wie wird das Wetter", qt, qr), join("Was gibt es", qt, qr), join("Wie sieht es", qt, qr, "aus"),
             join("Was erwartet uns", qt, qr)],
        restate=[join("Gibt es", qt, qr, qe, qc), join("Kommt es", qt, qr, "zu", qe, qc),
                 join("Müssen wir", qt, qr, "mit", qe, qc, "rechnen")],
        state=[fmt(qt, qr, qe, qc, None)],
        name=[join("Wo gibt es", qt, c.words), join("Wann gibt es", qr, c.words), join("Gibt es", qt, qr, c.words)]
        if c.homonym else [])


def _change(rng, time, region, homonym):
    later = _content_term(rng, PHENOMENA, homonym)
    a = _say(rng, draw(rng, tuple(p for p in PHENOMENA if p != later), 0.9))
    b = _say(rng, later)
    start, then = pick(rng, [("erst", "dann"), ("zunächst", "später"), ("anfangs", "danach"), ("", "dann")])
    style = _style(rng, 3)

    def fmt(t, r, first, second):
        return (join(r, "gibt es", t, start, first, "und", then, second), join(t, r, start, first, then, second),
                join(t, "gibt es", r, start, first, "und", then, second))[style]

    qt, qr, qa, qb = _para(rng, time), _para(rng, region), _para(rng, a), _para(rng, b)
    return Clause(
        fmt(_words(time), _words(region), a.words, b.words), _signs(time, region, a) + ["DANN"] + _signs(b),
        ask=[join("Wie ändert sich das Wetter", qt, qr), join("Wie entwickelt sich das Wetter", qt, qr),
             join("Was gibt es", qt, qr)],
        restate=[join("Gibt es", qt, qr, start, qa, "und", then, qb), join("Kommt", qt, qr, "nach", qa, qb)],
        state=[fmt(qt, qr, qa, qb)],
        name=[join("Wann kommen", qa, "und", b.words), join("Wo gibt es", qt, qa, "und dann", b.words)] if b.homonym else [])


def _numbers(rng: np.random.Generator, low: int, high: int, count: int) -> list[int]:
    return sorted(int(v) for v in rng.choice(np.arange(low, high + 1), size=count, replace=False))


def _temperature(rng, time, region, homonym):
    low, high = _numbers(rng, 0, len(NUMBER_WORDS) - 1, 2)
    n1, n2 = NUMBER_WORDS[low], NUMBER_WORDS[high]
    style = _style(rng, 4)
    t, r = _words(time), _words(region)
    qt, qr = _para(rng, time), _para(rng, region)
    if style == 0:
        words, signs = join("die Temperaturen liegen", t, r, "zwischen", n1, "und", n2, "Grad"), ["TEMPERATUR"]
        state = join("die Temperaturen liegen", qt, qr, "im Plusbereich")
    elif style == 1:
        words, signs = join(t, r, "Höchstwerte von", n1, "bis", n2, "Grad"), ["TEMPERATUR", "HOCH"]
        state = join(qt, qr, "steigen die Höchstwerte")
    elif style == 2:
        words, signs = join(r, "werden", t, n1, "bis", n2, "Grad erreicht"), ["TEMPERATUR"]
        state = join(qr, "werden", qt, "milde Werte erreicht")
    else:
        words, signs = join(t, r, "Tiefstwerte um", n1, "Grad"), ["TEMPERATUR", "TIEF"]
        state = join(qt, qr, "sinken die Tiefstwerte")
    numbers = [to_gloss(n1)] if style == 3 else [to_gloss(n1), "BIS", to_gloss(n2)]
    return Clause(
        words, _signs(time, region) + signs + numbers + ["GRAD"],
        ask=[join("Wie warm wird es", qt, qr), join("Wie sind die Temperaturen", qt, qr),
             join("Welche Temperaturen gibt es", qt, qr), join("Wie hoch liegen die Temperaturen", qt, qr)],
        restate=[join("Liegen die Temperaturen", qt, qr, "im Plusbereich"), join("Wird es", qt, qr, "warm")],
        state=[state])


def _frost(rng, time, region, homonym):
    n = NUMBER_WORDS[int(rng.integers(1, 13))]
    style = _style(rng, 3)

    def fmt(t, r, number):
        tail = ("bei minus", number, "Grad") if number else ()
        return (join(t, "gibt es", r, "Frost", *tail), join(r, t, "Nachtfrost", *tail),
                join(t, "sinken die Werte", r, "unter null" if not number else "auf minus", number,
                      "Grad" if number else None))[style]

    qt, qr = _para(rng, time), _para(rng, region)
    return Clause(
        fmt(_words(time), _words(region), n), _signs(time, region) + ["FROST", "MINUS", to_gloss(n), "GRAD"],
        ask=[join("Wie kalt wird es", qt, qr), join("Wie tief sinken die Temperaturen", qt, qr)],
        restate=[join("Gibt es", qt, qr, "Frost"), join("Wird es", qt, qr, "frostig")],
        state=[fmt(qt, qr, None)])


def _wind(rng, time, region, homonym):
    adjective, adverb, strength = draw(rng, WINDS, 0.7)
    direction = _say(rng, draw(rng, DIRECTIONS, 1.0))
    style = _style(rng, 3)

    def fmt(t, r, d):
        return (join(r, "weht", t, "ein", adjective, "Wind aus", d), join("der Wind weht", t, r, adverb, "aus", d),
                join(t, r, adjective, "Wind aus", d))[style]

    qt, qr, qd = _para(rng, time), _para(rng, region), _para(rng, direction)
    return Clause(
        fmt(_words(time), _words(region), direction.words), _signs(time, region) + ["WIND", strength] + _signs(direction),
        ask=[join("Wie weht der Wind", qt, qr), join("Woher kommt der Wind", qt, qr), join("Wie windig wird es", qt, qr)],
        restate=[join("Weht", qt, qr, "ein", adjective, "Wind aus", qd), join("Ist es", qt, qr, "windig")],
        state=[fmt(qt, qr, qd)])


def _feeling(rng, time, region, homonym):
    f = _say(rng, _content_term(rng, FEELINGS, homonym))
    filler = pick(rng, UNSIGNED)
    style = _style(rng, 4)

    def fmt(t, r, feel, extra):
        return (join(t, "wird es", r, feel), join("es bleibt", t, r, feel), join(r, "ist es", t, feel),
                join(t, r, "wird es", extra, feel))[style]

    qt, qr, qf = _para(rng, time), _para(rng, region), _para(rng, f)
    return Clause(
        fmt(_words(time), _words(region), f.words, filler), _signs(time, region, f),
        ask=[join("Wie wird es", qt, qr), join("Wie fühlt es sich", qt, qr, "an"), join("Wie wird die Temperatur", qr, qt)],
        restate=[join("Wird es", qt, qr, qf), join("Bleibt es", qt, qr, qf)],
        state=[fmt(qt, qr, qf, None)],
        name=[join("Wo wird es", qt, f.words), join("Wann wird es", qr, f.words), join("Wird es", qt, qr, f.words)]
        if f.homonym else [])


def _system(rng, time, region, homonym):
    system = _say(rng, draw(rng, SYSTEMS, 1.0))
    adjective = _say(rng, draw(rng, SYSTEM_ADJECTIVES, 1.0)) if rng.random() < 0.5 else None
    style = _style(rng, 3)

    def fmt(t, r, a, s):
        return (join(t, "zieht ein", a, s, r, "heran"), join("ein", a, s, "bestimmt", t, r, "das Wetter"),
                join(t, "bringt ein", a, s, r, "neue Wolken"))[style]

    qt, qr, qa, qs = _para(rng, time), _para(rng, region), _para(rng, adjective), _para(rng, system)
    return Clause(
        fmt(_words(time), _words(region), _words(adjective), system.words),
        _signs(time, region, adjective, system) + ["KOMMEN"],
        ask=[join("Was kommt", qt, qr, "auf uns zu"), join("Wie wird das Wetter", qt, qr), join("Was bestimmt das Wetter", qt)],
        restate=[join("Zieht", qt, "ein", qa, qs, qr, "heran"), join("Bestimmt", qt, "ein", qs, "das Wetter")],
        state=[fmt(qt, qr, qa, qs)])


def _outlook(rng, time, region, homonym):
    outlook = _say(rng, draw(rng, OUTLOOKS, 1.0))
    style = _style(rng, 3)

    def fmt(t, r, o):
        return (join("auch", t, r, o), join(t, "gibt es", r, "weiterhin", o), join(t, r, "bleibt es bei", o))[style]

    qt, qr, qo = _para(rng, time), _para(rng, region), _para(rng, outlook)
    return Clause(
        fmt(_words(time), _words(region), outlook.words), _signs(time, region, outlook) + ["BLEIBEN"],
        ask=[join("Wie geht es", qt, qr, "weiter"), join("Wie wird das Wetter", qt, qr)],
        restate=[join("Gibt es", qt, qr, "weiterhin", qo), join("Bleibt es", qt, qr, "bei", qo)],
        state=[fmt(qt, qr, qo)])


Template = Callable[[np.random.Generator, "Said | None", "Said | None", bool], Clause]
# (template, weight). Templates with a homonym slot can serve a disambiguating question.
TEMPLATES: tuple[tuple[Template, float], ...] = (
    (_weather, 0.34), (_temperature, 0.16), (_change, 0.08), (_feeling, 0.1), (_wind, 0.12), (_frost, 0.06),
    (_system, 0.07), (_outlook, 0.07),
)
DISAMBIGUATING_TEMPLATES = tuple((t, w) for t, w in TEMPLATES if t in (_weather, _change, _feeling))
# Clauses per sentence (1, 2, 3) and the connectives between them ("" = none; DANN is signed).
CLAUSES = (0.7, 0.25, 0.05)
CONNECTIVES = (("und", None), ("dabei", None), ("später", "DANN"), ("", None))


# Share of the other clauses a question restates before asking about its focus clause, and the
# share of restated slots said with the answer's own words (else another form of the term).
RESTATED = 1.0
KEEP = 0.8
# How strongly sentences prefer a template's usual word order and a term's usual form (Zipf
# exponents over the orders and over the forms).
STYLE_EXPONENT = 3.0
FORM_EXPONENT = 2.0


def _choose_template(rng: np.random.Generator, templates: tuple[tuple[Template, float], ...]) -> Template:
    weights = np.array([w for _, w in templates])
    return templates[int(rng.choice(len(templates), p=weights / weights.sum()))][0]


def _tokens(text: str) -> set[str]:
    return set(text.lower().split())


def _unrelated(rng: np.random.Generator, translation: str) -> str:
    words = _tokens(translation)
    return pick(rng, [q for q in UNRELATED_QUESTIONS if not _tokens(q) & words])


def sample(rng: np.random.Generator, kind: str) -> SynthSample:
    """One sentence, its sign-order gloss and a question of ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown question kind {kind!r} (expected one of {', '.join(KINDS)})")
    count = 1 + int(rng.choice(len(CLAUSES), p=CLAUSES))
    clauses: list[Clause] = []
    words: list[str] = []
    gloss: list[str] = []
    for i in range(count):
        first_disambiguating = kind == "disambiguating" and i == 0
        template = _choose_template(rng, DISAMBIGUATING_TEMPLATES if first_disambiguating else TEMPLATES)
        # The first clause usually names time and region; a later one names a new one or neither.
        time = _say(rng, draw(rng, TIMES, 0.8)) if rng.random() < (0.75 if i == 0 else 0.25) else None
        region = _region(rng) if rng.random() < (0.7 if i == 0 else 0.55) else None
        clause = template(rng, time, region, first_disambiguating)
        if i:
            connective, sign = pick(rng, CONNECTIVES)
            words.append(connective)
            gloss += [sign] if sign else []
        words.append(clause.words)
        gloss += clause.gloss
        clauses.append(clause)
    translation = join(*words).lower()
    question = (_unrelated(rng, translation) if kind == "unrelated"
                else " ".join(_cap(p) for p in question_parts(rng, kind, clauses, RESTATED)))
    return SynthSample(translation=translation, gloss=gloss, question=question, kind=kind)


def _vocabulary() -> tuple[str, ...]:
    terms = (TIMES + REGIONS + PHENOMENA + EXTENTS + FEELINGS + DIRECTIONS + SYSTEMS + SYSTEM_ADJECTIVES + OUTLOOKS
             + NUMBERS)
    fixed = ("REGION", "DANN", "TEMPERATUR", "HOCH", "TIEF", "BIS", "GRAD", "FROST", "MINUS", "WIND", "KOMMEN",
             "BLEIBEN", *(w[2] for w in WINDS))
    return tuple(dict.fromkeys([g for t in terms for g in t.gloss] + list(fixed)))


# Every gloss the grammar can emit, most frequent first (the renderer's designed pattern index).
GLOSS_VOCAB = by_frequency(_vocabulary(), sample)
