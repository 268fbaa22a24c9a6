"""`outreach beneficiary export` and `erase`, for a field office without the console."""

from __future__ import annotations

import json

from privacy_helpers import NAME, NUMBER, household, traces
from sqlmodel import Session, select
from typer.testing import CliRunner

from outreach.audit.models import AuditEntry
from outreach.cli import app
from outreach.registry.models import Beneficiary


def test_export_writes_her_document_and_is_audited(db: Session, chw, tmp_path) -> None:
    # given Kadiatou
    home = household(db, chw.id)
    target = tmp_path / "export.json"
    # when her export is written to a file
    result = CliRunner().invoke(app, ["beneficiary", "export", home.woman.code, "-o", str(target)])
    # then the file holds her record, and the audit names the CLI
    assert result.exit_code == 0, result.output
    doc = json.loads(target.read_text(encoding="utf-8"))
    assert doc["beneficiary"]["name"] == NAME and doc["phone"]["number"] == NUMBER
    entry = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.export")).one()
    assert entry.actor == "cli" and entry.object_id == str(home.woman.id)


def test_erase_asks_first_then_erases_once(db: Session, chw) -> None:
    # given Kadiatou
    home = household(db, chw.id)
    runner = CliRunner()
    # when the operator answers no to the question
    refused = runner.invoke(app, ["beneficiary", "erase", home.woman.code], input="n\n")
    # then nothing changed (her name is stored encrypted, so it is read back, not searched)
    db.expire_all()
    assert refused.exit_code == 1
    assert db.get(Beneficiary, home.woman.id).name == NAME  # type: ignore[union-attr]
    # and when she is erased with --yes, twice
    done = runner.invoke(app, ["beneficiary", "erase", home.woman.code, "--yes"])
    again = runner.invoke(app, ["beneficiary", "erase", home.woman.code, "--yes"])
    # then her name is gone, the second run says so, and only one erasure is audited
    assert done.exit_code == 0, done.output
    assert traces(db, NAME, NUMBER[4:]) == []
    assert again.exit_code == 0 and "déjà effacée" in again.output
    entries = db.exec(select(AuditEntry).where(AuditEntry.action == "beneficiary.erase")).all()
    assert [e.actor for e in entries] == ["cli"]


def test_an_unknown_code_is_an_error(db: Session) -> None:
    # when the code matches nobody
    result = CliRunner().invoke(app, ["beneficiary", "export", "999999999"])
    # then a French error and a failing exit code
    assert result.exit_code == 1 and "aucune bénéficiaire" in result.output
