"""The content loader: schema, keys, placeholders, spellings and rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from messages import texts
from messages.encoding import is_gsm7, segment_info
from messages.texts import NAME_BUDGET, ContentError


def write(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(body, encoding="utf-8")
    return path


PROGRAMME_FILE = """
programme: pregnancy
messages:
  - key: p_w08
    version: 2
    due: {week: 8}
    topics: [antenatal_care]
    review: {status: approved, reviewer: "Dr Diarra", date: 2026-10-01}
    texts: {fr: "Allez au CSCom.", bm: "Taa CSCom la.", bm_gsm: "Taa CSCom la."}
"""


def test_a_programme_message_carries_its_schedule_review_and_texts(tmp_path: Path) -> None:
    # Given a pregnancy file with one approved message due at week 8
    write(tmp_path, "pregnancy.yaml", PROGRAMME_FILE)
    # When the directory is loaded
    message = texts.load_dir(tmp_path)["p_w08"]
    # Then every field of the schema is there, and week 8 is 32 weeks before the EDD
    assert message.programme == "pregnancy"
    assert message.kind == "programme"
    assert message.version == 2
    assert message.due == {"week": 8}
    assert message.offset_days == -32 * 7
    assert message.topics == ("antenatal_care",)
    assert message.approved and message.reviewer == "Dr Diarra"
    assert message.reviewed_on is not None and message.reviewed_on.isoformat() == "2026-10-01"


def test_infant_due_points_are_days_or_weeks_of_age(tmp_path: Path) -> None:
    # Given infant messages due by age in days and in weeks
    write(
        tmp_path,
        "infant.yaml",
        """
programme: infant
messages:
  - {key: i_d3, due: {age_days: 3}, texts: {fr: "a", bm: "a", bm_gsm: "a"}}
  - {key: i_w6, due: {age_weeks: 6}, texts: {fr: "b", bm: "b", bm_gsm: "b"}}
""",
    )
    # When loaded
    messages = texts.load_dir(tmp_path)
    # Then their offsets are days from birth, and drafts by default
    assert messages["i_d3"].offset_days == 3
    assert messages["i_w6"].offset_days == 42
    assert messages["i_d3"].review_status == "draft"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (PROGRAMME_FILE + PROGRAMME_FILE.split("messages:\n")[1], "duplicate key"),
        (PROGRAMME_FILE.replace("Allez au CSCom.", "Allez {nom}."), "unknown placeholders"),
        (PROGRAMME_FILE.replace("Allez au CSCom.", "Allez {name}."), "no placeholders"),
        (PROGRAMME_FILE.replace("{week: 8}", "{age_days: 8}"), "due at a week"),
        (PROGRAMME_FILE.replace("status: approved", "status: ok"), "draft or approved"),
        (PROGRAMME_FILE.replace("bm_gsm:", "bm_latin:"), "unknown text fields"),
        (PROGRAMME_FILE.replace("programme: pregnancy", "programme: adults"), "unknown programme"),
    ],
)
def test_malformed_content_is_refused(tmp_path: Path, body: str, reason: str) -> None:
    # Given a content file with one defect
    write(tmp_path, "pregnancy.yaml", body)
    # When it is loaded
    # Then the loader says what is wrong
    with pytest.raises(ContentError, match=reason):
        texts.load_dir(tmp_path)


def test_a_key_used_in_two_files_is_refused(tmp_path: Path) -> None:
    # Given two files defining the same key
    write(tmp_path, "a.yaml", "messages:\n  - {key: hello, texts: {fr: 'Bonjour'}}\n")
    write(tmp_path, "b.yaml", "messages:\n  - {key: hello, texts: {fr: 'Salut'}}\n")
    # When loaded
    # Then both files are named
    with pytest.raises(ContentError, match=r"hello in a\.yaml and b\.yaml"):
        texts.load_dir(tmp_path)


def test_every_shipped_file_loads_with_the_operational_schema() -> None:
    # Given the shipped content directory (including the USSD team's registration.yaml)
    # When it is loaded
    messages = texts.load()
    # Then the programmes, topic sets and operational texts are all there
    kinds = {m.kind for m in messages.values()}
    assert kinds == {"programme", "topic", "operational"}
    assert {m.programme for m in messages.values() if m.kind == "topic"} == set(texts.TOPIC_SETS)
    for key in ("welcome_pregnancy", "loss_support", "address_shared", "address_chw"):
        assert messages[key].kind == "operational"
    assert [m.key for m in texts.topic_set("malaria") if "smc" in m.topics][:1]


def test_bambara_is_kept_in_both_spellings() -> None:
    # Given every programme and topic message
    for message in texts.load().values():
        if message.kind == "operational":
            continue
        # Then the standard orthography and a GSM-7 spelling are both present
        assert set(message.texts) == {"fr", "bm", "bm_gsm"}, message.key
        assert is_gsm7(message.texts["bm_gsm"]), message.key
        # and the sent form follows the spelling asked for
        assert message.text("bm", gsm_safe=True) == message.texts["bm_gsm"]
        assert message.text("bm", gsm_safe=False) == message.texts["bm"]


def test_french_is_sent_in_its_gsm_safe_spelling() -> None:
    # Given a message whose French has a character outside GSM-7 (ê, ’ ...)
    message = next(
        m for m in texts.load().values() if m.kind == "programme" and not is_gsm7(m.texts["fr"])
    )
    # When its French text is taken for sending
    sent = message.text("fr", gsm_safe=True)
    # Then it is GSM-7, and the original is still available
    assert is_gsm7(sent)
    assert message.text("fr", gsm_safe=False) == message.texts["fr"]


def test_render_fills_the_name() -> None:
    # Given the welcome text
    # When it is rendered for Awa in Bambara
    text = texts.render("welcome_pregnancy", "bm", name="Awa")
    # Then the name is in, in the GSM-safe spelling
    assert text.startswith("I ni ce Awa!")
    assert is_gsm7(text)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Awa", "Awa"),
        ("Aïssata Traoré", "Aissata Traoré"),
        ("Fatoumata Bintou Coulibaly", "Fatoumata Bintou"),
        ("Ɲɛlɛni Dembélé", "Nyèlèni Dembélé"),
        ("Mariamoussakadiatoumata", "Mariamoussakadiatoum"),
    ],
)
def test_addressee_is_a_short_gsm_safe_name(name: str, expected: str) -> None:
    # Given a name as typed by a CHW
    # When it is made into an addressee
    short = texts.addressee(name, "bm")
    # Then it is GSM-7, whole words first, at most NAME_BUDGET septets
    assert short == expected
    assert is_gsm7(short)
    assert segment_info(short).units <= NAME_BUDGET
