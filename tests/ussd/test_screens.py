"""Every screen in every language: at most 160 characters with its prefix, GSM-7 only."""

from __future__ import annotations

import string
from datetime import timedelta

import pytest
from sqlmodel import select

from messages.encoding import is_gsm7
from outreach.appointments import service as appointments_service
from outreach.redis import get_redis
from outreach.registry import service as registry_service
from outreach.registry.models import Beneficiary
from outreach.sites.models import Site
from outreach.timeutil import local_today
from outreach.ussd import catalog
from outreach.ussd.engine import CON, END, MAX_SCREEN, Ctx, State, paginate
from outreach.ussd.flows import MAIN_FLOW

LONGEST_NAME = "Wwwwwwwwwwwwwwwwwww Wwwwwwwwwwwwwwwwwwww"  # 40 characters, the limit
SAMPLE = {
    "name": LONGEST_NAME,
    "chw_name": LONGEST_NAME,
    "chw_phone": "70 00 00 01",
    "code": "123456",
    "left": 4,
    "weeks": 42,
    "edd": "31/12/2026",
    "date": "31/12/2026",
    "sex": "garcon",
    "phone": "70 12 34 56 (partage)",
    "stage": "Enceinte 42 sem., terme 31/12/2026",
    "village": "Wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww",
    "language": "Bamanankan",
    "idp": "non",
    "chw": LONGEST_NAME,
    "label": "W" * 30,
    "place": "W" * 40,
}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def _check(pages: list[str], prefix: str, where: str) -> None:
    assert pages, where
    for page in pages:
        screen = prefix + page
        assert len(screen) <= MAX_SCREEN, (where, len(screen), screen)
        assert is_gsm7(screen), (where, screen)


def test_every_language_has_every_key_with_the_same_placeholders() -> None:
    # Given the French catalog as the reference
    french = catalog.catalog("fr")
    for language in catalog.LANGUAGES:
        texts = catalog.catalog(language)
        # Then every language has the same keys and the same placeholders
        assert set(texts) == set(french), (language, set(french) ^ set(texts))
        for key, template in texts.items():
            assert _fields(template) == _fields(french[key]), (language, key)


@pytest.mark.parametrize("language", catalog.LANGUAGES)
def test_every_catalog_text_fits_as_con_and_end(language: str) -> None:
    # Given every text, filled with the longest values it can hold
    for key, template in catalog.catalog(language).items():
        body = template.format(**{f: SAMPLE[f] for f in _fields(template)})
        # Then as a continuing or a final screen, every page fits and is GSM-7
        _check(paginate(body, language), CON, f"{language}/{key}")
        _check(paginate(body, language, prefix=END), END, f"{language}/{key}")


@pytest.mark.parametrize("language", catalog.LANGUAGES)
def test_walk_every_screen_of_every_flow(language: str, chw, db) -> None:
    # Given a woman, a pending one and a registration in progress with the longest answers
    woman = registry_service.register_pregnancy(
        db, name=LONGEST_NAME, phone="+22370123456", weeks=42, chw_id=chw.id
    ).beneficiary
    pending = registry_service.self_register(
        db, phone="+22370123457", name=LONGEST_NAME, language="fr", child_months=24
    )
    village = db.exec(select(Site).where(Site.level == "village")).first()
    assert village is not None
    # and an appointment of hers with the longest label and place, due today
    appointment = appointments_service.create(
        db,
        beneficiary_id=woman.id,
        kind="vaccination",
        due_on=local_today(),
        source="chw",
        place="W" * 40,
    )
    appointment.schedule_key = "epi_6w"
    data = {
        "chw_id": chw.id,
        "chw_name": LONGEST_NAME,
        "ben_id": woman.id,
        "women": [woman.id, pending.id],
        "found_ids": [woman.id, pending.id],
        "dup_ids": [woman.id, pending.id],
        "reg": {
            "kind": "pregnancy",
            "name": LONGEST_NAME,
            "phone": "+22370123456",
            "phone_kind": "shared",
            "edd": (local_today() + timedelta(weeks=1)).isoformat(),
            "birth_date": local_today().isoformat(),
            "sex": "M",
            "village_id": village.id,
            "language": "bm",
            "displaced": True,
        },
        "birth": {"date": local_today().isoformat(), "sex": "M"},
        "xfer_village_id": village.id,
        "topic": "malaria",
        "appt_id": appointment.id,
        "appt_kind": "vaccination",
    }
    # When each screen of the menu tree is drawn, alone and after an error message
    for step_name, step in MAIN_FLOW.steps.items():
        for ben_id in (woman.id, pending.id):
            ctx = Ctx(
                db=db,
                state=State(
                    session_id="walk",
                    phone="+22370000001",
                    language=language,
                    data={**data, "ben_id": ben_id},
                ),
            )
            body = step.prompt(ctx)
            # Then every page of it fits 160 characters with "CON " and is GSM-7
            _check(paginate(body, language), CON, f"{language}/{step_name}")
            reason = catalog.text("err_phone", language)
            _check(paginate(f"{reason}\n{body}", language), CON, f"{language}/{step_name}+err")
    assert db.get(Beneficiary, woman.id) is not None
    get_redis()
