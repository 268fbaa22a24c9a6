"""Load: the USSD callback under wrk while the delivery pipeline drains a 100k campaign.

On PostgreSQL + Redis (both given; the database is wiped, the Redis database flushed):

1. the database is migrated and seeded with the sites and 1,000 CHWs (as
   `bench/ussd_hop.py` does), and 100,000 campaign messages are bulk-inserted as the
   daily fan-out writes them;
2. `outreach api` (uvicorn, `--api-workers` processes), the emulator, two
   `outreach worker` processes (2 sending processes each) and beat start;
3. when the emulator has accepted its first message, `wrk` posts CHW registrations to
   `/callbacks/at/ussd` for `--seconds` (`bench/ussd_load.lua`: 13 hops a registration,
   cumulative `text`, a different CHW, session and woman each time). wrk is closed-loop:
   each of `--connections` connections waits for its answer, then `delay()` think time,
   so the offered rate is at most connections / think time (1,000/s by default: 200
   connections, 200 ms). When the server cannot keep up the rate falls instead of a queue
   building, and the latencies are those of the requests actually sent;
4. over the same window, the messages the emulator accepted (its JSON-lines ledger) give
   the drain rate, against the configured `--send-rate`;
5. then `--steps` shorter runs at lower caps find the highest rate answered with no error.

    .venv/bin/python bench/load.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/<db> \\
        --redis-url redis://127.0.0.1:6379/<n> [--seconds 60] [--steps 250,200,150,100]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from pipeline_harness import (  # noqa: E402
    Stack,
    base_env,
    bulk_insert,
    engine_for,
    number,
    parse_time,
    read_ledger,
    workdir,
)
from ussd_hop import CHW_COUNT, free_port, prepare  # noqa: E402

CAMPAIGN = "Campagne: vaccination gratuite des enfants de 0 à 5 ans samedi au CSCom."
LUA = ROOT / "bench" / "ussd_load.lua"


def run_wrk(url: str, *, seconds: float, connections: int, think_ms: int) -> dict[str, Any]:
    """One wrk run; its RESULT line parsed, plus the offered cap."""
    per_thread = connections * 4 // 2
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            "--timeout",
            "5s",
            "-s",
            str(LUA),
            url,
            "--",
            str(CHW_COUNT),
            str(think_ms),
            str(per_thread),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = re.search(r"^RESULT (.*)$", out, re.MULTILINE)
    if not found:
        raise RuntimeError(f"wrk said:\n{out}")
    result: dict[str, Any] = {}
    for pair in found.group(1).split():
        key, value = pair.split("=")
        result[key] = float(value) if "." in value else int(value)
    result["cap_per_second"] = round(connections * 1000 / think_ms) if think_ms else None
    result["achieved_per_second"] = round(result["requests"] / result["seconds"], 1)
    result["errors"] = sum(
        result[k] for k in ("non200", "bad_screen", "connect", "read", "write", "timeout")
    )
    return result


def wait_up(port: int, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    # Two uvicorn processes importing the app take a while on a busy machine.
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the API on {port} did not come up")


def accepted_between(ledger: list[dict[str, Any]], start: float, end: float) -> int:
    return sum(1 for e in ledger if start <= parse_time(e["accepted_at"]) < end)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="PostgreSQL (wiped!)")
    parser.add_argument("--redis-url", required=True, help="a Redis database of its own (flushed)")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--think-ms", type=int, default=200, help="per connection, between hops")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument(
        "--send-rate", type=float, default=500, help="OUTREACH_SEND_RATE_PER_SECOND"
    )
    parser.add_argument("--campaign", type=int, default=100_000)
    parser.add_argument("--steps", default="250,200,150,100", help="lower caps, req/s")
    parser.add_argument("--step-seconds", type=float, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    work = workdir("outreach-load-")
    env = base_env(args.database_url, work, send_rate_per_second=args.send_rate,
                   send_batch_size=100, drain_tick_seconds=1, sweep_interval_seconds=5)  # fmt: skip
    env["OUTREACH_REDIS_URL"] = args.redis_url
    env["OUTREACH_API_WORKERS"] = str(args.api_workers)
    print(f"work directory {work}", flush=True)
    prepare(env)
    engine = engine_for(args.database_url)
    loaded = bulk_insert(
        engine,
        ((f"campaign:{i}", "campaign", 3, number(i), CAMPAIGN) for i in range(args.campaign)),
    )
    print(f"{loaded} campaign messages queued", flush=True)
    port = free_port()
    stack = Stack(work, env, workers=2, concurrency=2)
    results: dict[str, Any] = {"send_rate": args.send_rate, "campaign": loaded}
    try:
        stack._spawn("api", ["api", "--port", str(port), "--workers", str(args.api_workers)])
        wait_up(port, stack.procs["api"])
        stack.start_emulator()
        stack.start_workers()
        ledger_path = work / "ledger.jsonl"
        deadline = time.monotonic() + 120
        while not ledger_path.exists() or ledger_path.stat().st_size == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing sent; see {work}")
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/callbacks/at/ussd"
        # A few seconds at a low rate first: connection pools and caches filled, as in a
        # server that has been up a while.
        run_wrk(url, seconds=5, connections=10, think_ms=200)
        start = time.time()
        main_run = run_wrk(
            url, seconds=args.seconds, connections=args.connections, think_ms=args.think_ms
        )
        end = time.time()
        ledger = read_ledger(ledger_path)
        # Every message the gateway accepted counts against the one configured rate,
        # the registrations' own SMS included; the campaign's share is shown apart.
        drained = accepted_between(ledger, start, end)
        campaign = accepted_between([e for e in ledger if e["message"] == CAMPAIGN], start, end)
        main_run["drain_per_second"] = round(drained / (end - start), 1)
        main_run["campaign_per_second"] = round(campaign / (end - start), 1)
        main_run["drain_share_of_configured"] = round(drained / (end - start) / args.send_rate, 3)
        results["main"] = main_run
        print(json.dumps({"main": main_run}), flush=True)
        steps = []
        for cap in (int(c) for c in args.steps.split(",") if c):
            connections = max(10, cap // 5)
            think = round(connections * 1000 / cap)
            step = run_wrk(url, seconds=args.step_seconds, connections=connections, think_ms=think)
            steps.append(step)
            print(json.dumps({"step": step}), flush=True)
        results["steps"] = steps
        clean = [s["achieved_per_second"] for s in [*steps, main_run] if s["errors"] == 0]
        results["highest_rate_without_error"] = max(clean) if clean else None
        # The rest of the campaign: how long the whole drain took, at what overall rate.
        done_deadline = time.monotonic() + 600
        while time.monotonic() < done_deadline:
            with engine.connect() as conn:
                from sqlalchemy import text

                left = conn.execute(
                    text(
                        "SELECT count(*) FROM outbound_message WHERE kind = 'campaign' "
                        "AND status IN ('queued', 'deferred', 'sending')"
                    )
                ).scalar_one()
            if left == 0:
                break
            time.sleep(2)
        ledger = [e for e in read_ledger(ledger_path) if e["message"] == CAMPAIGN]
        stamps = sorted(parse_time(e["accepted_at"]) for e in ledger)
        results["campaign_accepted"] = len(stamps)
        if stamps:
            span = stamps[-1] - stamps[0]
            results["campaign_drain_seconds"] = round(span, 1)
            results["campaign_rate_overall"] = round(len(stamps) / span, 1) if span else None
    finally:
        stack.stop()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    # The API and wrk need the loopback port only; nothing else is served.
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
