"""Recognise a keyword in an incoming SMS, from the per-language catalog in `keywords/`.

Pure functions: the catalog is data staff extend with synonyms, the matcher looks at
the first word only, ignoring case, accents and surrounding punctuation, and forgives
one slip of the thumb in longer words ("arét" is `arret`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

KEYWORDS_DIR = Path(__file__).parent / "keywords"
# Bambara letters NFKD does not decompose, written as people type them without them.
_PLAIN_LETTERS = str.maketrans({"ɛ": "e", "ɔ": "o", "ɲ": "ny", "ŋ": "ng", "Ɛ": "e", "Ɔ": "o"})
_WORD = re.compile(r"[a-z0-9]+")
# Typos are forgiven only in words this long: short words ("ok", "fr") must be exact.
FUZZY_MIN_LENGTH = 4
FUZZY_MIN_SCORE = 85
CODE_DIGITS = 6


class Intent(StrEnum):
    STOP = "stop"
    START = "start"
    YES = "yes"
    CONFIRM = "confirm"
    HELP = "help"
    LANGUAGE = "language"
    FR = "fr"
    BM = "bm"
    OTHER = "other"


LANGUAGE_INTENTS = {Intent.FR: "fr", Intent.BM: "bm"}


class CatalogError(ValueError):
    """A keyword file is malformed or gives one word two meanings."""


@dataclass(frozen=True, slots=True)
class Match:
    intent: Intent
    # The word as matched, normalised; "" for anything else.
    keyword: str = ""
    # A registration code after the keyword (STOP 123456), when there is one.
    code: str | None = None
    # The language a LANGUE / FR / BM message asks for.
    language: str | None = None


def plain(text: str) -> str:
    """Lower case, no accents, Bambara letters in their plain spelling."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_PLAIN_LETTERS))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def load_catalog(*directories: Path) -> dict[str, Intent]:
    """Every keyword of every language file in the directories, normalised, with its intent."""
    words: dict[str, Intent] = {}
    paths = [p for d in (directories or (KEYWORDS_DIR,)) for p in sorted(d.glob("*.yaml"))]
    for path in paths:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, entries in (data.get("keywords") or {}).items():
            try:
                intent = Intent(name)
            except ValueError as exc:
                raise CatalogError(f"{path.name}: unknown intent {name!r}") from exc
            for entry in entries or []:
                word = _key(str(entry))
                if not word:
                    raise CatalogError(f"{path.name}: empty keyword under {name}")
                if words.get(word, intent) != intent:
                    raise CatalogError(f"{path.name}: {entry!r} is both {words[word]} and {name}")
                words[word] = intent
    return words


def _key(word: str) -> str:
    # A word is its letters and digits; a keyword made only of signs ("?") stays as is.
    letters = "".join(_WORD.findall(plain(word)))
    return letters or word.strip()


@lru_cache
def catalog() -> dict[str, Intent]:
    """The shipped catalog plus the staff's own synonyms (OUTREACH_INBOUND_KEYWORDS_DIR)."""
    from outreach.config import get_settings

    extra = get_settings().inbound_keywords_dir
    if not extra:
        return load_catalog(KEYWORDS_DIR)
    # Staff files live outside the code so an upgrade never overwrites them.
    return load_catalog(KEYWORDS_DIR, Path(extra))


def _lookup(word: str, words: dict[str, Intent]) -> tuple[Intent, str] | None:
    if word in words:
        return words[word], word
    if len(word) < FUZZY_MIN_LENGTH:
        return None
    candidates = [w for w in words if len(w) >= FUZZY_MIN_LENGTH]
    scored = process.extract(word, candidates, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN_SCORE)
    if not scored:
        return None
    best = scored[0][1]
    # Two meanings equally close: better to ask a human than to guess.
    intents = {words[w] for w, score, _ in scored if score == best}
    if len(intents) != 1:
        return None
    return intents.pop(), scored[0][0]


def match(text: str, words: dict[str, Intent] | None = None) -> Match:
    """What an incoming SMS asks for, from its first word (and the word after it)."""
    words = catalog() if words is None else words
    stripped = text.strip()
    if not stripped:
        return Match(Intent.OTHER)
    tokens = _WORD.findall(plain(stripped))
    first_raw = stripped.split()[0]
    if not _WORD.search(plain(first_raw)):
        # A sign alone, such as "?".
        sign = words.get(first_raw.strip())
        return Match(sign, first_raw.strip()) if sign else Match(Intent.OTHER)
    found = _lookup(tokens[0], words)
    if found is None:
        return Match(Intent.OTHER)
    intent, keyword = found
    argument = tokens[1] if len(tokens) > 1 else None
    if intent in LANGUAGE_INTENTS:
        return Match(intent, keyword, language=LANGUAGE_INTENTS[intent])
    if intent == Intent.LANGUAGE:
        chosen = _lookup(argument, words) if argument else None
        if chosen is None or chosen[0] not in LANGUAGE_INTENTS:
            return Match(Intent.OTHER)
        return Match(intent, keyword, language=LANGUAGE_INTENTS[chosen[0]])
    code = argument if argument and argument.isdigit() and len(argument) == CODE_DIGITS else None
    return Match(intent, keyword, code=code)
