"""German weather-forecast grammar of the embedded PHOENIX-2014T-QA-like dataset.

A sentence is one of six templates (weather, weather change, temperature range, night frost,
wind, how it feels) filled from small slot vocabularies: time, region, phenomenon, number,
wind strength. The gloss sequence is in *sign* order (time first, then region, then content:
a topic-comment order unlike the spoken sentence), upper case, umlauts spelt AE/OE/UE.

What makes the task need both inputs (docs/embedded-data.md):

* numbers, and often the day or the region, occur only in the video: no question names a number;
* four homonym pairs (:data:`HOMONYMS`) are signed identically; only a ``disambiguating`` or
  ``yes_no`` question names the right word;
* ``unrelated`` questions share no word with the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from qbslt.data.synth import KINDS, SynthSample


def to_gloss(word: str) -> str:
    """PHOENIX gloss spelling of a German word: upper case, umlauts as AE/OE/UE, ß as SS."""
    return word.upper().replace("Ä", "AE").replace("Ö", "OE").replace("Ü", "UE")


@dataclass(frozen=True)
class Slot:
    """One filler of a slot: how the answer says it, how a question names it, how it is signed."""

    spoken: str  # lower-case words of the translation
    asked: str  # the same words, cased as in a question
    gloss: tuple[str, ...]


def _word(spoken: str, asked: str | None = None) -> Slot:
    return Slot(spoken, asked or spoken, (to_gloss(spoken),))


DAYS = ("montag", "dienstag", "mittwoch", "donnerstag", "freitag", "samstag", "sonntag")
TIMES = tuple(Slot(f"am {day}", f"am {day.capitalize()}", (to_gloss(day),)) for day in DAYS) + (
    Slot("morgen", "morgen", ("MORGEN",)),
    Slot("heute nacht", "heute Nacht", ("HEUTE", "NACHT")),
    Slot("am wochenende", "am Wochenende", ("WOCHENENDE",)),
)
REGIONS = (
    Slot("im norden", "im Norden", ("NORD",)),
    Slot("im süden", "im Süden", ("SUED",)),
    Slot("im osten", "im Osten", ("OST",)),
    Slot("im westen", "im Westen", ("WEST",)),
    Slot("im nordwesten", "im Nordwesten", ("NORDWEST",)),
    Slot("im südosten", "im Südosten", ("SUEDOST",)),
    Slot("an den küsten", "an den Küsten", ("KUESTE",)),
    Slot("in den alpen", "in den Alpen", ("ALPEN",)),
    Slot("im bergland", "im Bergland", ("BERG",)),
)
PHENOMENA = (
    _word("regen", "Regen"), _word("schnee", "Schnee"), _word("nebel", "Nebel"),
    Slot("wolken", "Wolken", ("WOLKE",)), _word("schauer", "Schauer"), _word("gewitter", "Gewitter"),
    Slot("sonnenschein", "Sonnenschein", ("SONNE",)), Slot("glatteis", "Glatteis", ("GLATT",)),
)
FEELINGS = (_word("warm"), _word("kalt"), _word("mild"), Slot("kühler", "kühler", ("KUEHL",)))
WINDS = (
    Slot("schwacher", "schwacher", ("SCHWACH",)), Slot("mäßiger", "mäßiger", ("MAESSIG",)),
    Slot("starker", "starker", ("STARK",)), Slot("stürmischer", "stürmischer", ("STURM",)),
)
# Ten number words, ascending (ranges are drawn as two increasing indices).
NUMBER_WORDS = ("zwei", "drei", "vier", "fünf", "sechs", "acht", "zehn", "zwölf", "fünfzehn", "zwanzig")
NUMBERS = tuple(_word(n) for n in NUMBER_WORDS)
FROST_NUMBERS = NUMBERS[:7]  # minus two .. minus ten

# Homonym signs: gloss -> the gloss whose motion pattern it shares (the renderer's pattern key).
HOMONYMS = {"SCHNEE": "REGEN", "WOLKE": "NEBEL", "GEWITTER": "SCHAUER", "KALT": "WARM"}
_HOMONYM_GLOSSES = frozenset(HOMONYMS) | frozenset(HOMONYMS.values())

# Questions with nothing to do with the forecast; one sharing no word with the answer is drawn.
UNRELATED_QUESTIONS = (
    "Wer hat das Fußballspiel gewonnen", "Wann beginnt der Spielfilm", "Was kostet ein Liter Benzin",
    "Welche Sendung kommt danach", "Wer moderiert heute die Nachrichten", "Wie heißt der neue Minister",
    "Welche Mannschaft führt die Tabelle an", "Wann öffnen die Geschäfte", "Wie teuer ist das Konzert",
)


@dataclass
class _Draft:
    """A filled template: the answer and, per question kind, the questions that fit it."""

    translation: str
    gloss: list[str]
    questions: dict[str, list[str]] = field(default_factory=dict)


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _homonym_options(slots: tuple[Slot, ...]) -> tuple[Slot, ...]:
    return tuple(s for s in slots if _HOMONYM_GLOSSES.intersection(s.gloss))


def _content(rng: np.random.Generator, slots: tuple[Slot, ...], homonym: bool) -> Slot:
    """A content filler; a homonym one when the question must disambiguate it."""
    return _pick(rng, _homonym_options(slots) if homonym else slots)


def _weather(rng: np.random.Generator, homonym: bool) -> _Draft:
    time, region, phen = _pick(rng, TIMES), _pick(rng, REGIONS), _content(rng, PHENOMENA, homonym)
    return _Draft(
        f"{time.spoken} gibt es {region.spoken} {phen.spoken}",
        [*time.gloss, *region.gloss, *phen.gloss],
        {"partial": [f"Wie wird das Wetter {time.asked}", f"Was gibt es {time.asked} {region.asked}",
                     f"Wie sieht es {region.asked} aus"],
         "disambiguating": [f"Wo gibt es {time.asked} {phen.asked}", f"Wann gibt es {region.asked} {phen.asked}"],
         "yes_no": [f"Gibt es {time.asked} {region.asked} {phen.asked}"]})


def _weather_change(rng: np.random.Generator, homonym: bool) -> _Draft:
    time, region = _pick(rng, TIMES), _pick(rng, REGIONS)
    later = _content(rng, PHENOMENA, homonym)
    first = _pick(rng, tuple(p for p in PHENOMENA if p != later))
    change = f"erst {first.spoken} und dann {later.spoken}"
    asked = f"erst {first.asked} und dann {later.asked}"
    return _Draft(
        f"{region.spoken} gibt es {time.spoken} {change}",
        [*time.gloss, *region.gloss, *first.gloss, "DANN", *later.gloss],
        {"partial": [f"Wie wird das Wetter {time.asked} {region.asked}", f"Was gibt es {time.asked}"],
         "disambiguating": [f"Wann kommen {asked}", f"Wo gibt es {time.asked} {asked}"],
         "yes_no": [f"Gibt es {region.asked} {time.asked} {asked}"]})


def _temperature(rng: np.random.Generator, homonym: bool) -> _Draft:
    time, region = _pick(rng, TIMES), _pick(rng, REGIONS)
    low, high = sorted(rng.choice(len(NUMBERS), size=2, replace=False))
    low, high = NUMBERS[low], NUMBERS[high]
    return _Draft(
        f"die temperaturen liegen {time.spoken} {region.spoken} zwischen {low.spoken} und {high.spoken} grad",
        [*time.gloss, *region.gloss, "TEMPERATUR", *low.gloss, "BIS", *high.gloss, "GRAD"],
        {"partial": [f"Wie warm wird es {time.asked}", f"Wie sind die Temperaturen {region.asked}",
                     f"Welche Temperaturen gibt es {time.asked} {region.asked}"],
         "yes_no": [f"Liegen die Temperaturen {time.asked} {region.asked} im Plusbereich"]})


def _frost(rng: np.random.Generator, homonym: bool) -> _Draft:
    time, region, number = _pick(rng, TIMES), _pick(rng, REGIONS), _pick(rng, FROST_NUMBERS)
    return _Draft(
        f"{time.spoken} gibt es frost bei minus {number.spoken} grad {region.spoken}",
        [*time.gloss, *region.gloss, "FROST", "MINUS", *number.gloss, "GRAD"],
        {"partial": [f"Wie kalt wird es {time.asked}", f"Wie kalt wird es {region.asked}"],
         "yes_no": [f"Gibt es {time.asked} {region.asked} Frost"]})


def _wind(rng: np.random.Generator, homonym: bool) -> _Draft:
    time, region, wind = _pick(rng, TIMES), _pick(rng, REGIONS), _pick(rng, WINDS)
    return _Draft(
        f"{region.spoken} weht {time.spoken} ein {wind.spoken} wind",
        [*time.gloss, *region.gloss, "WIND", *wind.gloss],
        {"partial": [f"Wie weht der Wind {time.asked}", f"Wie ist der Wind {region.asked}"],
         "yes_no": [f"Weht {time.asked} {region.asked} ein {wind.asked} Wind"]})


def _feeling(rng: np.random.Generator, homonym: bool) -> _Draft:
    time, region, feel = _pick(rng, TIMES), _pick(rng, REGIONS), _content(rng, FEELINGS, homonym)
    return _Draft(
        f"{time.spoken} wird es {region.spoken} {feel.spoken}",
        [*time.gloss, *region.gloss, *feel.gloss],
        {"partial": [f"Wie wird es {time.asked}", f"Wie wird die Temperatur {region.asked}"],
         "disambiguating": [f"Wo wird es {time.asked} {feel.asked}", f"Wann wird es {region.asked} {feel.asked}"],
         "yes_no": [f"Wird es {time.asked} {region.asked} {feel.asked}"]})


Template = Callable[[np.random.Generator, bool], _Draft]
# (template, weight). Templates with a homonym slot can serve a disambiguating question.
TEMPLATES: tuple[tuple[Template, float], ...] = (
    (_weather, 0.30), (_weather_change, 0.12), (_temperature, 0.20),
    (_frost, 0.10), (_wind, 0.15), (_feeling, 0.13),
)
DISAMBIGUATING_TEMPLATES = tuple((t, w) for t, w in TEMPLATES if t in (_weather, _weather_change, _feeling))


def _tokens(text: str) -> set[str]:
    return set(text.lower().split())


def _choose_template(rng: np.random.Generator, templates: tuple[tuple[Template, float], ...]) -> Template:
    weights = np.array([w for _, w in templates])
    return templates[int(rng.choice(len(templates), p=weights / weights.sum()))][0]


def _unrelated(rng: np.random.Generator, translation: str) -> str:
    words = _tokens(translation)
    return _pick(rng, [q for q in UNRELATED_QUESTIONS if not _tokens(q) & words])


def sample(rng: np.random.Generator, kind: str) -> SynthSample:
    """One sentence, its sign-order gloss and a question of ``kind`` (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown question kind {kind!r} (expected one of {', '.join(KINDS)})")
    disambiguating = kind == "disambiguating"
    template = _choose_template(rng, DISAMBIGUATING_TEMPLATES if disambiguating else TEMPLATES)
    draft = template(rng, disambiguating)
    question = _unrelated(rng, draft.translation) if kind == "unrelated" else _pick(rng, draft.questions[kind])
    return SynthSample(translation=draft.translation, gloss=draft.gloss, question=question, kind=kind)


def _vocabulary() -> tuple[str, ...]:
    slots = TIMES + REGIONS + PHENOMENA + FEELINGS + WINDS + NUMBERS
    fixed = ("DANN", "TEMPERATUR", "BIS", "GRAD", "FROST", "MINUS", "WIND")
    return tuple(dict.fromkeys([g for s in slots for g in s.gloss] + list(fixed)))


# Every gloss the grammar can emit, in a fixed order (the renderer's designed pattern index).
GLOSS_VOCAB = _vocabulary()
