"""The quick chaos run (10,000 messages, 2 workers, a faulty emulator, kills) as a CI test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.chaos


def _own_database() -> list[str]:
    """On the PostgreSQL pass, a sibling database the run may wipe; else its own SQLite."""
    url = os.environ.get("OUTREACH_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return []
    parsed = make_url(url)
    name = f"{parsed.database}_chaos"
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists.first() is None:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return ["--database-url", parsed.set(database=name).render_as_string(hide_password=False)]


def test_quick_chaos_run_loses_nothing_and_explains_every_duplicate(tmp_path) -> None:
    # Given 10,000 messages, 2 workers, an emulator failing 20% of calls with a 5xx and
    # hanging 5% past the read timeout
    report_path = tmp_path / "chaos.json"
    # When each worker is SIGKILLed once and Redis is killed (data dropped) once mid-run
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "chaos.py"),
            "--quick",
            "--timeout",
            "600",
            "--json",
            str(report_path),
            *_own_database(),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert report_path.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(report_path.read_text(encoding="utf-8"))
    # Then every disruption happened and the outbox drained
    assert len(report["events"]) == 3, report
    assert not report["timed_out"], report
    # and, counted from the emulator's own ledger, nothing was lost
    assert report["messages"] == 10_000
    assert report["accepted"] == 10_000 and report["lost"] == 0, report
    # and every duplicate is covered by a counted ambiguous try
    assert report["unexplained_duplicates"] == 0, report
    assert report["explained_duplicates"] == report["duplicated"]
    assert report["final_states"] == {"sent": 10_000}
    assert run.returncode == 0
