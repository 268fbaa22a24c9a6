"""GSM 03.38 alphabet, SMS segment arithmetic and a GSM-safe spelling of French and Bambara.

Pure functions only: the composer, the outbox and the emulator all bill and split
messages the same way because they all call this module.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Literal

# 3GPP TS 23.038 default alphabet. The escape code (0x1B) is left out on purpose:
# it is how extension characters are reached, never a character of its own.
GSM7_BASIC: frozenset[str] = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
    # Handsets and SMSCs decode Ç's code point for a lowercase ç, and French text
    # is full of it: treating it as UCS-2 would double the cost of most messages.
    "ç"
)

# Each costs two septets (escape + code).
GSM7_EXTENDED: frozenset[str] = frozenset("\f^{}\\[~]|€")

_GSM7: frozenset[str] = GSM7_BASIC | GSM7_EXTENDED

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67

Encoding = Literal["GSM-7", "UCS-2"]


def is_gsm7(text: str) -> bool:
    """True when every character of `text` exists in the GSM-7 alphabet or its extension."""
    return all(char in _GSM7 for char in text)


@dataclass(frozen=True)
class SegmentInfo:
    """How a text travels as SMS: its encoding, size and the number of billed parts."""

    encoding: Encoding
    # Septets for GSM-7 (extension characters count 2), UTF-16 code units for UCS-2.
    units: int
    segments: int
    per_segment: int
    # Units still free in the last part before another part is needed.
    remaining: int


def _septets(char: str) -> int:
    return 2 if char in GSM7_EXTENDED else 1


def _utf16_units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def segment_info(text: str) -> SegmentInfo:
    """Encoding, units and parts of `text` as an SMSC would split and bill it."""
    if is_gsm7(text):
        return _pack("GSM-7", [_septets(c) for c in text], GSM7_SINGLE, GSM7_PART)
    return _pack("UCS-2", [_utf16_units(c) for c in text], UCS2_SINGLE, UCS2_PART)


def _pack(encoding: Encoding, costs: list[int], single: int, part: int) -> SegmentInfo:
    units = sum(costs)
    if units <= single:
        return SegmentInfo(encoding, units, 1, single, single - units)
    # An escape sequence or a surrogate pair cut in two would arrive as garbage, so
    # a character that does not fit whole pushes the part boundary before it.
    segments, used = 1, 0
    for cost in costs:
        if used + cost > part:
            segments += 1
            used = 0
        used += cost
    return SegmentInfo(encoding, units, segments, part, part - used)


# French typography that falls outside GSM-7. Letters that have a GSM-7 form
# (é è à ù ì ò ä ö ü Ç É ...) are deliberately absent: they stay as they are.
_FRENCH: dict[str, str] = {
    "â": "a",
    "ê": "e",
    "î": "i",
    "ô": "o",
    "û": "u",
    "ë": "e",
    "ï": "i",
    "ÿ": "y",
    "œ": "oe",
    "Œ": "OE",
    "À": "A",
    "Â": "A",
    "È": "E",
    "Ê": "E",
    "Ë": "E",
    "Î": "I",
    "Ï": "I",
    "Ô": "O",
    "Ù": "U",
    "Û": "U",
    "Ÿ": "Y",
    "«": '"',
    "»": '"',
    "“": '"',
    "”": '"',
    "„": '"',
    "’": "'",
    "‘": "'",
    "‚": "'",
    "…": "...",
    "–": "-",
    "—": "-",
    "\t": " ",
}

# The common readable spelling of the Bambara letters. Capital È and Ò are not in
# GSM-7, so the capitals lose their grave accent rather than turning into UCS-2.
_BAMBARA: dict[str, str] = {
    "ɛ": "è",
    "Ɛ": "E",
    "ɔ": "ò",
    "Ɔ": "O",
    "ɲ": "ny",
    "Ɲ": "Ny",
    "ŋ": "ng",
    "Ŋ": "Ng",
}

_RULES: dict[str, dict[str, str]] = {
    "fr": _FRENCH,
    "bm": {**_FRENCH, **_BAMBARA},
}

_LANGUAGE_ALIASES = {"bam": "bm", "bambara": "bm", "fra": "fr", "fre": "fr", "french": "fr"}


def _rules_for(language: str) -> dict[str, str]:
    code = language.strip().lower().replace("_", "-").split("-", 1)[0]
    code = _LANGUAGE_ALIASES.get(code, code)
    # French punctuation and accents turn up in every language written in Mali.
    return _RULES.get(code, _FRENCH)


def _fallback(char: str) -> str:
    if unicodedata.combining(char):
        # Left over after NFC, e.g. a Bambara tone mark on ɛ: the letter is kept
        # and the tone dropped, as in everyday written Bambara.
        return ""
    if unicodedata.category(char) == "Zs":
        # No-break and narrow no-break spaces, common before French ; : ! ?
        return " "
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c)
    )
    if stripped and is_gsm7(stripped):
        return stripped
    return "?"


def gsm_safe(text: str, language: str) -> str:
    """A GSM-7-only spelling of `text`, so it is billed and displayed as GSM-7.

    This changes the wording (ɛ becomes è, œ becomes oe): content staff approve
    the variant, and the original spelling is kept for channels that allow it.
    """
    rules = _rules_for(language)
    out: list[str] = []
    # Text pasted from some editors arrives decomposed (e + combining acute);
    # composing first keeps é as the GSM-7 letter it is.
    for char in unicodedata.normalize("NFC", text):
        if char in _GSM7:
            out.append(char)
        elif char in rules:
            out.append(rules[char])
        else:
            out.append(_fallback(char))
    return "".join(out)
