"""Shared by the pipeline benchmarks: a private stack (Redis, emulator, workers, beat) on a
temporary database, bulk-loaded messages, and the emulator's own ledger.

Nothing here touches the developer's `var/` or the test databases: every run gets its
own SQLite file (or the PostgreSQL database given, which is wiped) and its own Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine, make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from outreach.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from outreach.encryption import keys  # noqa: E402
from outreach.migrate import upgrade  # noqa: E402
from outreach.outbox.models import OutboundMessage  # noqa: E402
from outreach.timeutil import utcnow  # noqa: E402

SETTLED = ("sent", "delivered", "failed", "rejected", "expired", "cancelled", "unknown")
WAITING = ("queued", "deferred", "sending")


def fresh_database(url: str | None, workdir: Path) -> str:
    """A migrated empty database: a new SQLite file, or the given PostgreSQL one wiped."""
    if url is None:
        url = f"sqlite:///{workdir / 'bench.db'}"
    elif make_url(url).get_backend_name() == "postgresql":
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(url)
    return url


def engine_for(url: str) -> Engine:
    from outreach.db import build_engine

    return build_engine(url).execution_options(sqlite_begin=None)


def number(i: int) -> str:
    """A distinct Malian mobile number per message, so the ledger maps back to it."""
    return f"+2236{i:07d}"


def bulk_insert(
    engine: Engine,
    rows: Iterator[tuple[str, str, int, str, str]],
    *,
    due_at: datetime | None = None,
    chunk: int = 5000,
) -> int:
    """Insert (dedupe_key, kind, priority, to_number, body) rows as the daily fan-out does."""
    now = utcnow()
    due = due_at or now - timedelta(seconds=1)
    total = 0
    batch: list[dict[str, Any]] = []
    table = OutboundMessage.__table__  # type: ignore[attr-defined]

    def flush() -> None:
        with engine.begin() as conn:
            conn.execute(insert(table), batch)

    for key, kind, priority, to, body in rows:
        batch.append(
            {
                "dedupe_key": key,
                "kind": kind,
                "priority": priority,
                "to_number": to,
                "to_index": keys.blind_index(to),
                "body": body,
                "status": "queued",
                "due_at": due,
                "created_at": now,
                "updated_at": now,
            }
        )
        if len(batch) >= chunk:
            flush()
            total += len(batch)
            batch = []
    if batch:
        flush()
        total += len(batch)
    return total


def status_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM outbound_message GROUP BY status"))
        return {status: int(count) for status, count in rows}


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def max_in_any_window(stamps: list[tuple[float, int]], width: float = 1.0) -> int:
    """The largest recipient count whose gateway stamps fall in one window [t, t + width)."""
    stamps = sorted(stamps)
    best = 0
    total = 0
    start = 0
    for end in range(len(stamps)):
        total += stamps[end][1]
        while stamps[end][0] - stamps[start][0] >= width:
            total -= stamps[start][1]
            start += 1
        best = max(best, total)
    return best


@dataclass
class Stack:
    """Redis, the emulator, N `outreach worker` processes and one beat, on `env`."""

    workdir: Path
    env: dict[str, str]
    workers: int = 2
    concurrency: int = 2
    redis: EmbeddedRedis | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    emulator_url: str = ""

    def start_redis(self) -> None:
        port = free_port()
        self.redis = EmbeddedRedis(self.workdir / "redis", port=port)
        self.env["OUTREACH_REDIS_URL"] = self.redis.start()

    def restart_redis(self) -> None:
        """Kill Redis outright (its data, queues and rate-limit state go with it), restart it."""
        assert self.redis is not None and self.redis._proc is not None
        self.redis._proc.kill()
        self.redis._proc.wait()
        port = self.redis.port
        self.redis = EmbeddedRedis(self.workdir / "redis", port=port)
        self.redis.start()

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "outreach", *args],
            env=self.env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_emulator(self) -> None:
        port = free_port()
        self.env["OUTREACH_EMULATOR_PORT"] = str(port)
        self.emulator_url = f"http://127.0.0.1:{port}"
        self._spawn("emulator", ["emulator", "--port", str(port)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.emulator_url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("emulator did not start")

    def start_worker(self, index: int) -> None:
        self._spawn(f"worker{index}", ["worker", "--concurrency", str(self.concurrency)])

    def start_workers(self) -> None:
        for index in range(1, self.workers + 1):
            self.start_worker(index)
        self._spawn("beat", ["beat"])

    def kill_worker(self, index: int) -> None:
        """SIGKILL a worker and its pool children at once, as a lost machine would."""
        proc = self.procs[f"worker{index}"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if self.redis is not None:
            self.redis.stop()


def base_env(database_url: str, workdir: Path, **overrides: object) -> dict[str, str]:
    """Settings for a bench stack: every window open, no delivery reports, a ledger file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTREACH_")}
    # The harness writes numbers encrypted: the stack must read them with the same keys.
    for name in ("OUTREACH_SECRET_KEY", "OUTREACH_DATA_KEYS", "OUTREACH_INDEX_KEYS"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(
        OUTREACH_ENV="development",
        OUTREACH_DATABASE_URL=database_url,
        OUTREACH_GATEWAY="emulator",
        OUTREACH_EMULATOR_DELIVERY_URL="",
        OUTREACH_EMULATOR_LEDGER_PATH=str(workdir / "ledger.jsonl"),
        OUTREACH_SEND_WINDOW="00:00-24:00",
        OUTREACH_LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update({f"OUTREACH_{k.upper()}": str(v) for k, v in overrides.items()})
    return env


def workdir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
