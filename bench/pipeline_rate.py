"""Gateway rate benchmark: does the pipeline run the gateway at its configured rate, never
above it, in full calls, and does a reminder overtake a 100k campaign?

    .venv/bin/python bench/pipeline_rate.py             # 50/s and 500/s, 60 s each
    .venv/bin/python bench/pipeline_rate.py --quick     # 15 s each

For each rate: 100,000 campaign messages with one text are bulk-inserted (as the
daily fan-out writes them: no wake-up), 2 worker processes (2 sending processes
each) and beat drain them through the emulator, and a reminder is inserted the same
way every 2 seconds. Every figure comes from the emulator's ledger timestamps:
achieved rate as a share of the configured rate (after a 2 s warm-up), the highest
count in any sliding 1-second window, mean recipients per call for the campaign
text, and each reminder's latency from insertion to acceptance.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pipeline_harness import (
    Stack,
    base_env,
    bulk_insert,
    engine_for,
    fresh_database,
    max_in_any_window,
    number,
    parse_time,
    read_ledger,
    workdir,
)

CAMPAIGN = "Campagne: vaccination gratuite des enfants de 0 à 5 ans samedi au CSCom."
REMINDER = "Rappel: votre consultation prénatale est demain matin au CSCom."
WARMUP = 2.0


def measure(rate: float, seconds: float, campaign: int, args: argparse.Namespace) -> dict[str, Any]:
    work = workdir(f"outreach-rate-{int(rate)}-")
    url = fresh_database(args.database_url, work)
    engine = engine_for(url)
    bulk_insert(
        engine,
        ((f"campaign:{i}", "campaign", 3, number(i), CAMPAIGN) for i in range(campaign)),
    )
    env = base_env(
        url,
        work,
        send_rate_per_second=rate,
        send_batch_size=args.batch_size,
        drain_tick_seconds=1,
        sweep_interval_seconds=5,
    )
    stack = Stack(work, env, workers=2, concurrency=2)
    ledger_path = work / "ledger.jsonl"
    reminders: dict[str, float] = {}
    try:
        stack.start_redis()
        stack.start_emulator()
        stack.start_workers()
        deadline = time.monotonic() + 60
        while not ledger_path.exists() or ledger_path.stat().st_size == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing sent; see {work}")
            time.sleep(0.1)
        end = time.monotonic() + WARMUP + seconds
        next_reminder = time.monotonic() + WARMUP
        index = 0
        while time.monotonic() < end:
            if time.monotonic() >= next_reminder:
                to = number(900_000 + index)
                reminders[to] = time.time()
                bulk_insert(engine, iter([(f"reminder:{index}", "reminder", 1, to, REMINDER)]))
                index += 1
                next_reminder += 2.0
            time.sleep(0.05)
        time.sleep(3)  # let the last reminders through
    finally:
        stack.stop()
    return _figures(read_ledger(ledger_path), rate, seconds, reminders)


def _figures(
    ledger: list[dict[str, Any]], rate: float, seconds: float, reminders: dict[str, float]
) -> dict[str, Any]:
    stamps = [(parse_time(e["accepted_at"]), e["call_id"]) for e in ledger]
    per_call = Counter(call for _t, call in stamps)
    call_time = {call: t for t, call in stamps}
    start = min(t for t, _c in stamps) + WARMUP
    in_window = sum(1 for t, _c in stamps if start <= t < start + seconds)
    campaign_calls = Counter(e["call_id"] for e in ledger if e["message"] == CAMPAIGN)
    latencies = [
        parse_time(e["accepted_at"]) - reminders[e["number"]]
        for e in ledger
        if e["number"] in reminders
    ]
    return {
        "rate": rate,
        "seconds": seconds,
        "achieved_per_second": round(in_window / seconds, 1),
        "achieved_share": round(in_window / seconds / rate, 3),
        "max_in_any_1s_window": max_in_any_window([(call_time[c], n) for c, n in per_call.items()]),
        "max_window_share": round(
            max_in_any_window([(call_time[c], n) for c, n in per_call.items()]) / rate, 3
        ),
        "campaign_calls": len(campaign_calls),
        "mean_recipients_per_campaign_call": round(
            statistics.mean(campaign_calls.values()) if campaign_calls else 0, 1
        ),
        "reminders": len(reminders),
        "reminders_sent": len(latencies),
        "reminder_latency_median_s": round(statistics.median(latencies), 2) if latencies else None,
        "reminder_latency_max_s": round(max(latencies), 2) if latencies else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,500", help="configured rates, comma-separated")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--quick", action="store_true", help="15 s per rate")
    parser.add_argument("--campaign", type=int, default=100_000, help="campaign size")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL (wiped!)")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--batch-size", type=int, default=100, help="OUTREACH_SEND_BATCH_SIZE for the run"
    )
    args = parser.parse_args()
    seconds = 15.0 if args.quick else args.seconds
    results = []
    for rate in (float(r) for r in args.rates.split(",")):
        figures = measure(rate, seconds, args.campaign, args)
        results.append(figures)
        print(json.dumps(figures), flush=True)
    print()
    print(
        "| configured rate | achieved / configured | max in any 1 s / configured |"
        " recipients per call (same text) | reminder latency median / max |"
    )
    print("|---|---|---|---|---|")
    for f in results:
        print(
            f"| {f['rate']:.0f}/s | {f['achieved_share']:.3f} | {f['max_window_share']:.3f}"
            f" ({f['max_in_any_1s_window']}) | {f['mean_recipients_per_campaign_call']}"
            f" | {f['reminder_latency_median_s']} s / {f['reminder_latency_max_s']} s |"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
