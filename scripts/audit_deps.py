"""Audit the locked requirements (constraints.txt) for known vulnerabilities.

pip-audit reads the pinned versions (no resolution, no install) and asks a vulnerability
service about each. A finding fails the run unless `audit-allowlist.toml` lists it with
a reason. A service that cannot be reached is never read as "no vulnerabilities": it is
reported loudly, and fails the run when OUTREACH_AUDIT_REQUIRED=1 (CI machines with a
network); elsewhere it is a warning, so an offline run still passes.

Exit status: 0 clean (or only warnings), 1 a finding or a broken allowlist, or the
service out of reach with OUTREACH_AUDIT_REQUIRED=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "constraints.txt"
ALLOWLIST = ROOT / "audit-allowlist.toml"
# pip-audit's own socket timeout, and a bound on the whole run so CI never hangs on it.
SOCKET_TIMEOUT = 10
RUN_TIMEOUT = 120
SERVICES = ("osv", "pypi")


@dataclass(frozen=True)
class Allowed:
    id: str
    package: str
    reason: str
    reviewed: str


@dataclass
class Verdict:
    """What the audit found, and whether the run passes."""

    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def load_allowlist(text: str) -> tuple[list[Allowed], list[str]]:
    """The allowlist entries, and the problems that make the list itself unusable."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return [], [f"audit-allowlist.toml is not valid TOML: {exc}"]
    entries: list[Allowed] = []
    problems: list[str] = []
    for n, raw in enumerate(data.get("vulnerability", []), start=1):
        values = {k: str(raw.get(k, "")).strip() for k in ("id", "package", "reason", "reviewed")}
        label = f"allowlist entry {n} ({values['id'] or 'no id'})"
        missing = [k for k, v in values.items() if not v]
        if missing:
            problems.append(f"{label}: missing {', '.join(missing)}; every entry needs all four")
            continue
        # An accepted risk is reviewed again: a date that does not parse is a typo to fix.
        try:
            date.fromisoformat(values["reviewed"])
        except ValueError:
            problems.append(f"{label}: reviewed must be a date (YYYY-MM-DD)")
            continue
        entries.append(Allowed(**values))
    return entries, problems


def decide(report: dict[str, Any], allowed: list[Allowed], *, required: bool) -> Verdict:
    """Judge pip-audit's JSON report against the allowlist."""
    verdict = Verdict()
    by_key = {(a.package.lower(), a.id.upper()): a for a in allowed}
    used: set[tuple[str, str]] = set()
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    for dep in dependencies:
        name = str(dep.get("name", "")).lower()
        for vuln in dep.get("vulns", []):
            ids = [str(vuln.get("id", "")), *(str(a) for a in vuln.get("aliases", []))]
            keys = [(name, i.upper()) for i in ids if i]
            match = next((k for k in keys if k in by_key), None)
            where = f"{dep.get('name')} {dep.get('version')}: {', '.join(i for i in ids if i)}"
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
            if match is None:
                verdict.failures.append(f"vulnerability {where} (fixed in {fixed})")
            else:
                used.add(match)
                verdict.notes.append(f"allowed {where}: {by_key[match].reason}")
    for key, entry in by_key.items():
        if key not in used and not skipped:
            verdict.notes.append(
                f"allowlist entry {entry.id} ({entry.package}) matched nothing: remove it?"
            )
    if skipped:
        unaudited = "not audited (vulnerability service out of reach?): " + ", ".join(
            f"{d.get('name')}" for d in skipped
        )
        if len(skipped) == len(dependencies):
            unaudited = f"NO dependency was audited ({len(skipped)} skipped): " + str(
                skipped[0].get("skip_reason")
            )
        (verdict.failures if required else verdict.warnings).append(unaudited)
    return verdict


def run_pip_audit(service: str) -> tuple[dict[str, Any] | None, str]:
    """pip-audit's JSON report on the locked requirements, or None and why not."""
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(REQUIREMENTS),
        "--no-deps",
        "--disable-pip",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--vulnerability-service",
        service,
        "--timeout",
        str(SOCKET_TIMEOUT),
    ]
    try:
        done = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
            command, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"pip-audit gave no answer within {RUN_TIMEOUT} s"
    # pip-audit exits 1 when it finds something: the report still comes out, and it is
    # the report that decides. No report at all means it could not ask the service.
    try:
        return json.loads(done.stdout), ""
    except json.JSONDecodeError:
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        return None, lines[-1] if lines else f"pip-audit exited {done.returncode}"


def main() -> int:
    required = os.environ.get("OUTREACH_AUDIT_REQUIRED", "") == "1"
    service = os.environ.get("OUTREACH_AUDIT_SERVICE", "osv")
    if service not in SERVICES:
        print(f"FAIL: OUTREACH_AUDIT_SERVICE must be one of {', '.join(SERVICES)}")
        return 1
    allowed, problems = load_allowlist(ALLOWLIST.read_text() if ALLOWLIST.exists() else "")
    report, error = run_pip_audit(service)
    if report is None:
        verdict = Verdict()
        message = f"vulnerability service '{service}' out of reach, nothing audited: {error}"
        (verdict.failures if required else verdict.warnings).append(message)
    else:
        verdict = decide(report, allowed, required=required)
    verdict.failures[:0] = problems
    for note in verdict.notes:
        print(f"  note: {note}")
    for warning in verdict.warnings:
        print(f"  WARNING: {warning}")
    for failure in verdict.failures:
        print(f"  FAIL: {failure}")
    if verdict.warnings and not required:
        print("  (set OUTREACH_AUDIT_REQUIRED=1 where the service is reachable to make this fail)")
    audited = (
        0
        if report is None
        else sum(1 for d in report.get("dependencies", []) if not d.get("skip_reason"))
    )
    print(f"dependency audit ({service}): {audited} audited, {len(verdict.failures)} failure(s)")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
