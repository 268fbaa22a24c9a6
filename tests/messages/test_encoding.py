"""GSM-7 / UCS-2 detection, segment counting and GSM-safe spellings."""

from __future__ import annotations

import pytest

from messages.encoding import (
    GSM7_BASIC,
    GSM7_EXTENDED,
    gsm_safe,
    is_gsm7,
    segment_info,
)


def test_empty_text_is_one_gsm7_segment() -> None:
    # given an empty message
    # when it is measured
    info = segment_info("")
    # then it still costs one GSM-7 part with the whole part free
    assert (info.encoding, info.units, info.segments, info.remaining) == ("GSM-7", 0, 1, 160)


@pytest.mark.parametrize(
    ("length", "segments", "remaining"),
    [(160, 1, 0), (161, 2, 145), (306, 2, 0), (307, 3, 152)],
)
def test_gsm7_part_boundaries(length: int, segments: int, remaining: int) -> None:
    # given a plain GSM-7 text of a boundary length
    text = "a" * length
    # when it is measured
    info = segment_info(text)
    # then it splits at 160 single / 153 per part
    assert info.encoding == "GSM-7"
    assert info.units == length
    assert info.segments == segments
    assert info.per_segment == (160 if segments == 1 else 153)
    assert info.remaining == remaining


def test_extension_character_counts_two_septets() -> None:
    # given 159 plain characters and one euro sign
    text = "a" * 159 + "€"
    # when it is measured
    info = segment_info(text)
    # then the euro costs 2 septets and pushes the text into two parts
    assert info.encoding == "GSM-7"
    assert info.units == 161
    assert info.segments == 2


def test_extension_character_is_not_split_across_parts() -> None:
    # given an extension character whose two septets would straddle the first part's end
    text = "a" * 152 + "€" + "a" * 152
    # when it is measured
    info = segment_info(text)
    # then part one holds 152 septets and the euro opens part two, so 306 septets,
    # which would fit two full parts, need three
    assert info.units == 306
    assert info.segments == 3
    assert info.remaining == 153 - 1


def test_extension_character_that_fits_stays_in_the_part() -> None:
    # given an extension character ending exactly on the first part's last septet
    text = "a" * 151 + "€" + "a" * 153
    # when it is measured
    info = segment_info(text)
    # then the parts fill exactly
    assert (info.units, info.segments, info.remaining) == (306, 2, 0)


def test_one_bambara_letter_forces_ucs2() -> None:
    # given a GSM-7 sentence with a single ɛ
    text = "I ni ce, i ka kɛnɛ wa?"
    # when it is measured
    info = segment_info(text)
    # then the whole message becomes UCS-2
    assert not is_gsm7(text)
    assert info.encoding == "UCS-2"
    assert info.units == len(text)
    assert info.per_segment == 70


@pytest.mark.parametrize(
    ("length", "segments"),
    [(70, 1), (71, 2), (134, 2), (135, 3)],
)
def test_ucs2_part_boundaries(length: int, segments: int) -> None:
    # given a UCS-2 text of a boundary length
    text = "ɛ" * length
    # when it is measured
    info = segment_info(text)
    # then it splits at 70 single / 67 per part
    assert info.encoding == "UCS-2"
    assert info.units == length
    assert info.segments == segments


def test_emoji_counts_two_utf16_units() -> None:
    # given a text with one emoji outside the basic multilingual plane
    text = "Bravo 🎉"
    # when it is measured
    info = segment_info(text)
    # then the emoji costs two UTF-16 code units
    assert info.encoding == "UCS-2"
    assert info.units == len("Bravo ") + 2
    assert info.remaining == 70 - info.units


def test_emoji_is_not_split_across_ucs2_parts() -> None:
    # given an emoji whose surrogate pair would straddle the first part's end
    text = "ɛ" * 66 + "🎉" + "ɛ" * 66
    # when it is measured
    info = segment_info(text)
    # then the pair moves whole into part two, which overflows into a third
    assert info.units == 134
    assert info.segments == 3


def test_french_accents_become_gsm7() -> None:
    # given a French sentence full of letters and typography outside GSM-7
    text = (
        "«\u00a0Bientôt\u00a0» : la fête de l’enfant… Ève, Œdipe, maïs, Noël, "
        "hôpital, sûr, île, “À l’École” – ÂÊÎÔÛËÏŸÙ ça\u202f!"
    )
    assert not is_gsm7(text)
    # when it is made GSM-safe
    safe = gsm_safe(text, "fr")
    # then it is GSM-7 and keeps the letters GSM-7 already has
    assert is_gsm7(safe)
    assert segment_info(safe).encoding == "GSM-7"
    assert safe.startswith('" Bientot " : la fete de l\'enfant... Eve, OEdipe, mais, Noel')
    assert '"A l\'École"' in safe
    assert "AEIOUEIYU ça !" in safe


def test_bambara_letters_become_gsm7() -> None:
    # given a Bambara sentence with ɛ ɔ ɲ ŋ and their capitals
    text = "Ɲɛ ka dɔn, ŋaniya ɲuman. Ɛ Ɔ Ŋ Ɲ – kɛnɛya ka fisa ni nafolo ye «\u00a0!\u00a0»"
    # when it is made GSM-safe
    safe = gsm_safe(text, "bm")
    # then it is GSM-7 with the usual readable spelling
    assert is_gsm7(safe)
    assert safe.startswith("Nyè ka dòn, nganiya nyuman. E O Ng Ny - kènèya")
    assert safe.endswith('" ! "')


def test_unknown_characters_are_stripped_or_replaced() -> None:
    # given letters with no rule: accented ones, decomposed ones, ones that cannot be spelled
    text = "Aná ñ ō e\u0301te\u0301 😀 中"
    # when it is made GSM-safe
    safe = gsm_safe(text, "fr")
    # then accents are stripped where that yields GSM-7 and the rest becomes "?"
    assert safe == "Ana ñ o été ? ?"
    assert is_gsm7(safe)


def test_bambara_tone_marks_are_dropped() -> None:
    # given Bambara letters carrying combining tone marks
    text = "ɛ\u0300 ɔ\u0301 a\u030c"
    # when it is made GSM-safe
    safe = gsm_safe(text, "bm")
    # then the letters keep their spelling and the tones go
    assert safe == "è ò a"


def test_every_substitution_is_gsm7() -> None:
    # given every non-GSM character the rules know about, in every language
    samples = "âêîôûëïÿœŒÀÂÈÊËÎÏÔÙÛŸ«»’‘“”…\u00a0\u202fɛƐɔƆɲƝŋŊ"
    for language in ("fr", "bm", "bm-ML", "ff", ""):
        # when each is made GSM-safe
        safe = gsm_safe(samples, language)
        # then nothing outside GSM-7 survives
        assert is_gsm7(safe), language


def test_alphabet_tables() -> None:
    # given the two published tables
    # when they are inspected
    # then they hold 127 basic characters plus ç, 10 extension ones, and do not overlap
    assert len(GSM7_BASIC) == 128
    assert len(GSM7_EXTENDED) == 10
    assert not GSM7_BASIC & GSM7_EXTENDED
    assert {"ç", "Ç", "é", "è", "à", "ù", "ì", "ò"} <= GSM7_BASIC
    assert not {"â", "ê", "È", "Ò", "À", "œ"} & GSM7_BASIC


def test_a_lone_euro_is_two_septets_in_one_segment() -> None:
    # given a message made of one euro sign
    # when it is measured
    info = segment_info("€")
    # then it is GSM-7, two septets, and 158 septets are left
    assert (info.encoding, info.units, info.segments, info.remaining) == ("GSM-7", 2, 1, 158)


def test_one_bambara_letter_in_a_full_gsm7_message_costs_three_parts() -> None:
    # given 159 GSM-7 characters and one ɛ: 160 characters, one segment in GSM-7
    text = "a" * 159 + "ɛ"
    # when it is measured
    info = segment_info(text)
    # then the ɛ turns it into UCS-2 and 160 units need three parts of 67
    assert (info.encoding, info.units, info.segments, info.per_segment) == ("UCS-2", 160, 3, 67)
    # and its GSM-safe spelling is back to one segment
    assert segment_info(gsm_safe(text, "bm")).segments == 1


def test_french_typography_at_exactly_160_fits_once_made_gsm_safe() -> None:
    # given 158 plain characters and French quotes: UCS-2, three parts
    text = "«" + "a" * 158 + "»"
    assert segment_info(text).segments == 3
    # when the GSM-safe spelling is measured
    info = segment_info(gsm_safe(text, "fr"))
    # then it is exactly one full GSM-7 segment
    assert (info.encoding, info.units, info.segments, info.remaining) == ("GSM-7", 160, 1, 0)
