"""`outreach beneficiary consent`: staff see a woman's consent history."""

from __future__ import annotations

from typer.testing import CliRunner

from outreach.cli import app
from outreach.registry import service as registry_service
from outreach.registry.models import ConsentChannel


def test_consent_history_lists_agreements_and_withdrawals(db) -> None:
    # Given a woman who agreed by USSD and later withdrew by SMS
    reg = registry_service.register_pregnancy(
        db,
        name="Awa Traore",
        phone="70123456",
        weeks=20,
        chw_id=None,
        consent=registry_service.ConsentInfo(
            text_key="ussd_consent", text_version=1, language="fr"
        ),
    )
    registry_service.record_consent(
        db,
        beneficiary_id=reg.beneficiary.id,
        consent=registry_service.ConsentInfo(
            text_key="sms_stop",
            text_version=1,
            language="fr",
            channel=ConsentChannel.SMS,
            granted=False,
        ),
    )
    db.commit()
    # When staff ask for her history by code
    result = CliRunner().invoke(app, ["beneficiary", "consent", reg.beneficiary.code])
    # Then both entries show, in order, in French
    assert result.exit_code == 0, result.output
    assert "accord" in result.output and "retrait" in result.output
    assert result.output.index("accord") < result.output.index("retrait")
    assert "USSD (ASC)" in result.output and "SMS" in result.output


def test_unknown_code_is_a_clear_error(db) -> None:
    # Given no beneficiary with that code
    # When staff ask for it
    result = CliRunner().invoke(app, ["beneficiary", "consent", "999999"])
    # Then the command fails with a French message
    assert result.exit_code == 1
    assert "aucune bénéficiaire" in result.output
