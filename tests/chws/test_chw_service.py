"""CHW accounts: the villages they cover, PIN format, the CLI's PIN reset."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select
from typer.testing import CliRunner

from outreach.chws import service as chw_service
from outreach.chws.models import Chw
from outreach.cli import app
from outreach.sites.models import Site
from outreach.timeutil import utcnow


def test_villages_are_the_covered_ones_and_those_under_a_covered_area(db) -> None:
    # Given a health area with two villages, and a third village elsewhere
    area = Site(name="Aire", level="health_area")
    db.add(area)
    db.flush()
    under = [Site(name=n, level="village", parent_id=area.id) for n in ("Zeta", "Alpha")]
    alone = Site(name="Beta", level="village")
    db.add_all([*under, alone])
    db.flush()
    # When a CHW covers the area and the lone village
    chw = chw_service.add(
        db, name="A", phone="+22370000011", pin="1111", site_ids=[area.id, alone.id]
    )
    assert chw.id is not None
    # Then her villages are all three, by name
    names = [v.name for v in chw_service.villages(db, chw_id=chw.id)]
    assert names == ["Alpha", "Beta", "Zeta"]


def test_pin_format_is_four_ascii_digits() -> None:
    # Given PINs as typed
    # Then only four plain digits are a PIN
    assert chw_service.valid_pin_format("0123")
    for bad in ("123", "12345", "12a4", "¹²³⁴", "١٢٣٤"):
        assert not chw_service.valid_pin_format(bad), bad


def test_cli_reset_pin_lifts_a_lockout(chw, db) -> None:
    # Given the demo CHW locked out
    chw.locked_until = utcnow() + timedelta(minutes=15)
    chw.failed_pin_attempts = 0
    db.add(chw)
    db.commit()
    # When staff reset her PIN with the CLI
    result = CliRunner().invoke(
        app, ["chw", "reset-pin", "--phone", "70 00 00 01", "--pin", "4321"]
    )
    # Then she is unlocked and the new PIN works
    assert result.exit_code == 0, result.output
    db.expire_all()
    fresh = db.exec(select(Chw).where(Chw.id == chw.id)).one()
    assert fresh.locked_until is None
    assert chw_service.check_pin(db, chw=fresh, pin="4321")


def test_cli_lists_and_confirms_a_self_registration(chw, db) -> None:
    # Given a woman who registered herself
    from outreach.registry import service as registry_service
    from outreach.registry.models import Beneficiary

    pending = registry_service.self_register(
        db, phone="70123456", name="Bintou Dembele", language="fr", weeks=12, village_text="Kalaban"
    )
    db.commit()
    runner = CliRunner()
    # When staff list the pending ones, then confirm her for the demo CHW
    listing = runner.invoke(app, ["chw", "pending"])
    confirmed = runner.invoke(
        app, ["chw", "confirm", "--code", pending.code, "--phone", "70000001"]
    )
    again = runner.invoke(app, ["chw", "confirm", "--code", pending.code, "--phone", "70000001"])
    # Then she was listed, is now active with the CHW, and a second confirmation is refused
    assert listing.exit_code == 0 and pending.code in listing.output
    assert "Kalaban" in listing.output
    assert confirmed.exit_code == 0, confirmed.output
    db.expire_all()
    woman = db.get(Beneficiary, pending.id)
    assert woman is not None and woman.status == "active" and woman.chw_id == chw.id
    assert again.exit_code == 1 and "pas en attente" in again.output
