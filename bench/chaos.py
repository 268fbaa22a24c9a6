"""Chaos run: N messages through 2 worker processes against a faulty emulator, with each
worker SIGKILLed once and Redis killed (data dropped) once along the way.

    .venv/bin/python bench/chaos.py                 # 100,000 messages
    .venv/bin/python bench/chaos.py --quick         # 10,000 (what CI runs)

The emulator answers 20% of calls with an HTTP 5xx and lets 5% hang past the client's
read timeout (half of those after accepting). Figures come from the emulator's own
JSON-lines ledger: accepted, lost (never accepted), duplicated (accepted more than
once), and whether each duplicate is explained by a counted ambiguous try (an
attempt row with outcome timeout, lease_expired or late_result). Exit code 1 when a
message is lost or a duplicate is unexplained.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline_harness import (
    WAITING,
    Stack,
    base_env,
    bulk_insert,
    engine_for,
    fresh_database,
    number,
    read_ledger,
    status_counts,
    workdir,
)
from sqlalchemy import select, text

from outreach.outbox.models import OutboundMessage

AMBIGUOUS = ("timeout", "lease_expired", "late_result")

TEXTS = {
    "campaign": (3, ["Campagne: vaccination gratuite des enfants samedi au CSCom."]),
    "programme": (
        2,
        [
            "Semaine 20: dormez sous une moustiquaire imprégnée chaque nuit.",
            "Semaine 24: allez à votre consultation prénatale au CSCom.",
        ],
    ),
    "reminder": (1, ["Rappel: consultation prénatale demain matin au CSCom."]),
}


def messages(count: int):
    """A mix of lanes: mostly one campaign text, some programme texts, a few reminders."""
    for i in range(count):
        kind = "reminder" if i % 10 == 0 else "programme" if i % 10 < 3 else "campaign"
        priority, bodies = TEXTS[kind]
        yield (f"chaos:{i}", kind, priority, number(i), bodies[i % len(bodies)])


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = workdir("outreach-chaos-")
    url = fresh_database(args.database_url, work)
    engine = engine_for(url)
    total = bulk_insert(engine, messages(args.messages))
    env = base_env(
        url,
        work,
        emulator_fail_5xx_ratio=0.2,
        emulator_timeout_ratio=0.05,
        emulator_timeout_seconds=args.hang,
        emulator_seed=args.seed,
        gateway_connect_timeout=1.0,
        gateway_read_timeout=args.read_timeout,
        send_rate_per_second=args.rate,
        send_batch_size=100,
        # 25% of calls fail here, far beyond a real gateway: enough tries that none runs out.
        send_max_attempts=30,
        send_backoff_seconds=0.5,
        send_backoff_max_seconds=4,
        lease_seconds=8,
        sweep_interval_seconds=1,
        drain_tick_seconds=0.5,
        drain_max_seconds=10,
        ambiguous_policy="at_least_once",
    )
    stack = Stack(work, env, workers=2, concurrency=args.concurrency)
    events: list[str] = []
    started = time.monotonic()
    plan = [
        (0.2, "kill worker 1", lambda: _bounce(stack, 1)),
        (0.45, "kill redis", stack.restart_redis),
        (0.7, "kill worker 2", lambda: _bounce(stack, 2)),
    ]
    try:
        stack.start_redis()
        stack.start_emulator()
        stack.start_workers()
        started = time.monotonic()
        deadline = started + args.timeout
        while time.monotonic() < deadline:
            counts = status_counts(engine)
            waiting = sum(counts.get(s, 0) for s in WAITING)
            done = 1 - waiting / total
            while plan and done >= plan[0][0]:
                _at, what, action = plan.pop(0)
                action()
                events.append(f"{what} at {done:.0%} ({time.monotonic() - started:.1f} s)")
                print(events[-1], flush=True)
            if waiting == 0 and not plan:
                break
            time.sleep(0.5)
        drained = time.monotonic() - started
        timed_out = any(status_counts(engine).get(s, 0) for s in WAITING)
    finally:
        stack.stop()
    report = _count(engine, work / "ledger.jsonl", total)
    report.update(
        messages=total,
        drain_seconds=round(drained, 1),
        timed_out=timed_out,
        events=events,
        database=engine.dialect.name,
        rate=args.rate,
    )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        report["workdir"] = str(work)
    return report


def _bounce(stack: Stack, index: int) -> None:
    stack.kill_worker(index)
    time.sleep(1.0)
    stack.start_worker(index)


def _count(engine: Any, ledger_path: Path, total: int) -> dict[str, Any]:
    ledger = read_ledger(ledger_path)
    accepted_per_number = Counter(entry["number"] for entry in ledger)
    with engine.connect() as conn:
        # Through the model's column: the number is stored encrypted.
        message = OutboundMessage.__table__.c  # type: ignore[attr-defined]
        rows = conn.execute(select(message.id, message.to_number, message.status)).all()
        ambiguous_rows = conn.execute(
            text(
                "SELECT message_id, count(*) FROM message_attempt"
                " WHERE outcome IN ('timeout', 'lease_expired', 'late_result')"
                " GROUP BY message_id"
            )
        ).all()
        outcomes = dict(
            conn.execute(
                text("SELECT coalesce(outcome, 'open'), count(*) FROM message_attempt GROUP BY 1")
            ).all()
        )
    ambiguous = {message_id: int(count) for message_id, count in ambiguous_rows}
    lost = [(mid, to, status) for mid, to, status in rows if accepted_per_number[to] == 0]
    duplicated = explained = unexplained = 0
    for message_id, to, _status in rows:
        extra = accepted_per_number[to] - 1
        if extra <= 0:
            continue
        duplicated += extra
        covered = min(extra, ambiguous.get(message_id, 0))
        explained += covered
        unexplained += extra - covered
    return {
        "accepted": sum(1 for _m, to, _s in rows if accepted_per_number[to] > 0),
        "ledger_acceptances": len(ledger),
        "lost": len(lost),
        "lost_sample": lost[:10],
        "duplicated": duplicated,
        "explained_duplicates": explained,
        "unexplained_duplicates": unexplained,
        "ambiguous_tries": sum(ambiguous.values()),
        "attempt_outcomes": outcomes,
        "gateway_calls": len({entry.get("call_id") for entry in ledger}),
        "final_states": status_counts(engine),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 messages")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (wiped!)")
    parser.add_argument("--rate", type=float, default=2000, help="gateway rate per second")
    parser.add_argument("--concurrency", type=int, default=2, help="processes per worker")
    parser.add_argument("--read-timeout", type=float, default=1.0)
    parser.add_argument("--hang", type=float, default=1.5, help="emulator hang seconds")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=3600, help="give up after (s)")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument("--keep", action="store_true", help="keep logs, ledger and database")
    args = parser.parse_args()
    if args.quick:
        args.messages = 10_000
    report = run(args)
    print(json.dumps(report, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    ok = report["lost"] == 0 and report["unexplained_duplicates"] == 0 and not report["timed_out"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
