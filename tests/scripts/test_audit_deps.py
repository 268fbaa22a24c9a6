"""The dependency audit's decision, fed pip-audit's own JSON reports."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("audit_deps", ROOT / "scripts" / "audit_deps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["audit_deps"] = module
    spec.loader.exec_module(module)
    return module


audit = _module()

JINJA_ENTRY = """
[[vulnerability]]
id = "CVE-2024-22195"
package = "Jinja2"
reason = "we never pass user-chosen keys to xmlattr"
reviewed = "2026-11-22"
"""


def _report(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _allowlist(text: str) -> list:
    entries, problems = audit.load_allowlist(text)
    assert problems == []
    return entries


def test_a_finding_fails_the_run() -> None:
    # Given a report with a vulnerable Jinja2 and an empty allowlist
    verdict = audit.decide(_report("finding.json"), _allowlist(""), required=False)
    # Then the run fails, naming the package, the ids and the fixed version
    assert not verdict.ok
    [failure] = verdict.failures
    assert "jinja2 3.1.2" in failure and "GHSA-h5c8-rqwp-cp95" in failure
    assert "3.1.3" in failure


def test_a_listed_finding_passes_with_its_reason_shown() -> None:
    # Given the same finding listed by its CVE alias, with a reason
    verdict = audit.decide(_report("finding.json"), _allowlist(JINJA_ENTRY), required=True)
    # Then the run passes and says why it was let through
    assert verdict.ok, verdict.failures
    assert any("xmlattr" in note for note in verdict.notes)


def test_a_listed_finding_without_a_reason_breaks_the_allowlist() -> None:
    # Given an entry whose reason is empty, and one with no reviewed date
    entries, problems = audit.load_allowlist(
        JINJA_ENTRY.replace("we never pass user-chosen keys to xmlattr", "")
        + '\n[[vulnerability]]\nid = "PYSEC-1"\npackage = "x"\nreason = "r"\n'
    )
    # Then neither entry counts, each is a problem that fails the run
    assert entries == []
    assert len(problems) == 2
    assert "missing reason" in problems[0] and "missing reviewed" in problems[1]
    # And the finding it meant to allow fails too
    assert not audit.decide(_report("finding.json"), entries, required=False).ok


def test_a_bad_review_date_or_toml_breaks_the_allowlist() -> None:
    _, bad_date = audit.load_allowlist(JINJA_ENTRY.replace("2026-11-22", "last week"))
    _, bad_toml = audit.load_allowlist("[[vulnerability]\n")
    assert bad_date and "YYYY-MM-DD" in bad_date[0]
    assert bad_toml and "TOML" in bad_toml[0]


def test_a_listed_finding_matches_only_its_package() -> None:
    # Given the CVE listed for another package
    entries = _allowlist(JINJA_ENTRY.replace('"Jinja2"', '"markupsafe"'))
    # Then the Jinja2 finding still fails
    assert not audit.decide(_report("finding.json"), entries, required=False).ok


@pytest.mark.parametrize(
    ("fixture", "named"), [("skipped.json", "africastalking"), ("partly_skipped.json", "alembic")]
)
def test_skipped_dependencies_warn_offline_and_fail_when_required(fixture: str, named: str) -> None:
    # Given a report where the service could not be asked about some dependencies
    report = _report(fixture)
    # When the audit is not required (an offline machine)
    offline = audit.decide(report, [], required=False)
    # Then the run passes but says loudly what was not audited
    assert offline.ok
    [warning] = offline.warnings
    assert named in warning
    # And where the audit is required, the same report fails
    required = audit.decide(report, [], required=True)
    assert not required.ok and named in required.failures[0]


def test_a_report_where_nothing_was_audited_says_so() -> None:
    [warning] = audit.decide(_report("skipped.json"), [], required=False).warnings
    assert warning.startswith("NO dependency was audited (2 skipped)")


def test_a_clean_report_passes_and_flags_unused_entries() -> None:
    verdict = audit.decide(_report("clean.json"), _allowlist(JINJA_ENTRY), required=True)
    assert verdict.ok and verdict.warnings == []
    assert any("matched nothing" in note for note in verdict.notes)


@pytest.mark.parametrize(("required", "status"), [("1", 1), ("", 0)])
def test_an_unreachable_service_fails_only_when_required(
    monkeypatch, capsys, required: str, status: int
) -> None:
    # Given pip-audit could not reach the service at all (no report)
    monkeypatch.setattr(
        audit, "run_pip_audit", lambda service: (None, "NameResolutionError: api.osv.dev")
    )
    monkeypatch.setenv("OUTREACH_AUDIT_REQUIRED", required)
    # When the audit runs
    code = audit.main()
    # Then it is reported loudly, and fails only where the audit is required
    out = capsys.readouterr().out
    assert code == status
    assert "out of reach, nothing audited" in out and "api.osv.dev" in out


def test_the_repository_allowlist_is_valid() -> None:
    entries, problems = audit.load_allowlist((ROOT / "audit-allowlist.toml").read_text())
    assert problems == []
    assert all(e.reason for e in entries)
