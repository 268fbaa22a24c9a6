"""Daily programme fan-out at 1,000,000 active enrollments, on PostgreSQL.

    OUTREACH_BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/<db> \
        .venv/bin/python bench/fanout.py [--quick]

The database is WIPED (schema `public` dropped) and filled with generated women
spread over every stage of the 1,000 days. Printed, all measured in the same run:

- the fan-out of one day, in a separate worker-like process (it imports the Celery
  app and runs the task's code), beside a raw `INSERT ... SELECT` of 1,000,000 outbox
  rows of the same width into the same table (goal: within 3x), and beside a raw
  insert of as many rows as the fan-out produced (the per-row overhead);
- the worker's resident memory after each batch and its peak (goal: flat, <= 300 MB);
- the re-run of the same day (everything already queued);
- the cost per beneficiary of the whole programme per language and spelling, from
  the same computation as `outreach content check`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from encrypted_seed import encrypt_numbers  # noqa: E402 - after the path is set

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/outreach_bench"

# One outbox row as the fan-out writes it: a 130-character body, a 20-odd-character
# key, the number as stored (100 characters of ciphertext, a 32-character blind index),
# a beneficiary (foreign key checked, as for the fan-out's rows).
RAW_INSERT = """
INSERT INTO outbound_message (dedupe_key, kind, priority, to_number, to_index, body,
    sender_id, language, beneficiary_id, status, due_at, created_at, updated_at, attempt_count)
SELECT 'raw:' || g || '-preg_w20', 'programme', 2, lpad(g::text, 100, 'x'), md5(g::text),
       repeat('x', 130), NULL, 'fr', 1 + (g - 1) % :people, 'queued', now(), now(), now(), 0
FROM generate_series(1, :rows) AS g
"""


def log(message: str) -> None:
    print(message, flush=True)


def generate(engine: Engine, n: int, today: date) -> None:
    """N women: 70% own phone, 15% shared (pairs), 15% none (via 1 CHW per 500)."""
    from sqlalchemy import text

    from outreach.encryption import keys

    chws = max(1, n // 500)
    # Names are stored encrypted: a few real ciphertexts, repeated, give every row the
    # width and the cost (a copy into the outbox) of the real thing.
    people = ["Awa Traoré", "Fanta Coulibaly", "Kadiatou Diarra", "Oumou Keïta"]
    names = ", ".join(f"'{keys.encrypt(name)}'" for name in people)
    short = ", ".join(f"'{keys.encrypt(name)}'" for name in people)
    chw_names = ", ".join(f"'{keys.encrypt(f'ASC {g}')}'" for g in range(1, 5))
    sql = [
        # Phones: one per own-phone woman, one per pair on a shared phone, 1% opted out.
        # In clear first (the number as its provisional index): see encrypted_seed.
        f"""INSERT INTO phone (id, e164, e164_index, status, created_at)
        SELECT g, '+2237' || lpad(g::text, 7, '0'), '+2237' || lpad(g::text, 7, '0'),
               CASE WHEN g % 100 = 7 THEN 'opted_out' ELSE 'active' END, now()
        FROM generate_series(1, {n}) g WHERE g % 20 NOT IN (15, 17, 18, 19)""",  # noqa: S608
        f"""INSERT INTO phone (id, e164, e164_index, status, created_at)
        SELECT {n} + g, '+2236' || lpad(g::text, 7, '0'), '+2236' || lpad(g::text, 7, '0'),
               'active', now()
        FROM generate_series(1, {chws}) g""",  # noqa: S608
        f"""INSERT INTO chw (id, name, phone_id, pin_hash, language, failed_pin_attempts,
            active, created_at)
        SELECT g, (ARRAY[{chw_names}])[1 + g % 4], {n} + g, 'x',
               CASE WHEN g % 3 = 0 THEN 'bm' ELSE 'fr' END, 0, true, now()
        FROM generate_series(1, {chws}) g""",  # noqa: S608
        f"""INSERT INTO beneficiary (id, code, name, phone_id, phone_kind, chw_id, language,
            displaced, status, created_at)
        SELECT g, g::text, (ARRAY[{names}])[1 + g % 4],
               CASE WHEN g % 20 < 14 THEN g WHEN g % 20 IN (14, 16) THEN g
                    WHEN g % 20 = 15 THEN g - 1 END,
               CASE WHEN g % 20 < 14 THEN 'own' WHEN g % 20 < 17 THEN 'shared' ELSE 'none' END,
               1 + g % {chws}, CASE WHEN g % 5 < 3 THEN 'fr' ELSE 'bm' END,
               g % 20 = 3, 'active', now()
        FROM generate_series(1, {n}) g""",  # noqa: S608
        # Stages over the 1,000 days: a pregnancy from week 8 to 42 (34 of the 139 weeks),
        # else an infant from birth to 24 months; 1 in 1,000 registered today.
        f"""INSERT INTO enrollment (id, beneficiary_id, child_id, programme, anchor_date,
            status, start_date, addressee, created_at)
        SELECT g, g, NULL,
               CASE WHEN g % 139 < 34 THEN 'pregnancy' ELSE 'infant' END,
               CASE WHEN g % 139 < 34
                    THEN DATE '{today}' + ((g::bigint * 7919) % 239 - 14)::int
                    ELSE DATE '{today}' - ((g::bigint * 7919) % 735)::int END,
               'active',
               CASE WHEN g % 1000 = 0 THEN DATE '{today}' ELSE DATE '{today}' - 400 END,
               (ARRAY[{short}])[1 + g % 4], now()
        FROM generate_series(1, {n}) g""",  # noqa: S608
        f"SELECT setval('phone_id_seq', {n + chws})",
        f"SELECT setval('chw_id_seq', {chws})",
        f"SELECT setval('beneficiary_id_seq', {n})",
        f"SELECT setval('enrollment_id_seq', {n})",
    ]
    with engine.begin() as conn:
        for statement in sql:
            conn.execute(text(statement))
    encrypt_numbers(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def reset(engine: Engine, url: str) -> None:
    from sqlalchemy import text

    from outreach.migrate import upgrade

    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(url)


def raw_insert(engine: Engine, rows: int, people: int) -> float:
    from sqlalchemy import text

    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(RAW_INSERT), {"rows": rows, "people": people})
    return time.perf_counter() - started


def truncate_outbox(engine: Engine) -> None:
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("TRUNCATE outbound_message RESTART IDENTITY CASCADE"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE outbound_message"))


WORKER = """
import json, sys
from datetime import date
import workers.app  # the worker's imports: Celery app, settings, logging
from outreach.programmes import fanout, tasks  # noqa: F401  (the task module, as registered)

def rss_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1])
    return 0

samples = []
start_rss = rss_kb("VmRSS:")
result = fanout.run(
    day=date.fromisoformat(sys.argv[1]),
    batch_size=int(sys.argv[2]),
    on_batch=lambda b: samples.append(rss_kb("VmRSS:")),
)
print(json.dumps({
    "seconds": result.seconds, "inserted": result.inserted, "batches": result.batches,
    "messages": result.messages, "start_rss_kb": start_rss, "batch_rss_kb": samples,
    "peak_rss_kb": rss_kb("VmHWM:"),
}))
"""


@dataclass(frozen=True)
class WorkerRun:
    seconds: float
    inserted: int
    batches: int
    messages: int
    start_rss_mb: int
    batch_rss_mb: list[int]
    peak_rss_mb: int


def fan_out_in_worker(url: str, day: date, batch: int) -> WorkerRun:
    env = dict(os.environ)
    env.update(
        OUTREACH_DATABASE_URL=url,
        OUTREACH_ENV="development",
        OUTREACH_CONTENT_SEND_DRAFTS="true",
        OUTREACH_LOG_LEVEL="WARNING",
    )
    out = subprocess.run(
        [sys.executable, "-c", WORKER, day.isoformat(), str(batch)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return WorkerRun(
        seconds=float(data["seconds"]),
        inserted=int(data["inserted"]),
        batches=int(data["batches"]),
        messages=int(data["messages"]),
        start_rss_mb=int(data["start_rss_kb"]) // 1024,
        batch_rss_mb=[int(v) // 1024 for v in data["batch_rss_kb"]],
        peak_rss_mb=int(data["peak_rss_kb"]) // 1024,
    )


def programme_costs() -> list[tuple[str, str, int, str]]:
    """Segments and XOF per beneficiary for the whole 1,000 days, per language and spelling."""
    from messages import texts
    from messages.validate import summarise
    from outreach.programmes.cli import SPELLING
    from outreach.programmes.costs import price_per_segment

    price = price_per_segment("+223")
    rows = summarise(texts.load(), gsm_safe={"fr": True, "bm": True})
    out = []
    for language in ("fr", "bm"):
        for safe in (True, False):
            chosen = [
                r
                for r in rows
                if r.language == language
                and r.gsm_safe == safe
                and r.programme in ("pregnancy", "infant")
            ]
            segments = sum(r.segments for r in chosen)
            label = SPELLING[(language, safe)]
            out.append((language, label, segments, f"{segments * price:.0f}"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="100,000 enrollments")
    parser.add_argument("--enrollments", type=int, default=None)
    parser.add_argument("--batch", type=int, default=50_000, help="enrollment ids per batch")
    args = parser.parse_args()
    n = args.enrollments or (100_000 if args.quick else 1_000_000)
    url = os.environ.get("OUTREACH_BENCH_DATABASE_URL", DEFAULT_URL)
    os.environ["OUTREACH_DATABASE_URL"] = url

    from sqlalchemy import create_engine

    if not url.startswith("postgresql"):
        sys.exit("the fan-out benchmark runs on PostgreSQL (OUTREACH_BENCH_DATABASE_URL)")
    engine = create_engine(url)
    today = date.today()
    log(f"load average: {os.getloadavg()[0]:.2f}, cpus: {os.cpu_count()}")
    log(f"resetting {engine.url.render_as_string(hide_password=True)} ...")
    reset(engine, url)
    started = time.perf_counter()
    generate(engine, n, today)
    log(f"generated {n:,} active enrollments in {time.perf_counter() - started:.1f}s")

    baseline_rows = 1_000_000
    raw_1m = raw_insert(engine, baseline_rows, n)
    log(f"raw INSERT ... SELECT of {baseline_rows:,} outbox rows: {raw_1m:.2f}s")
    truncate_outbox(engine)

    first = fan_out_in_worker(url, today, args.batch)
    inserted, fan_seconds = first.inserted, first.seconds
    log(
        f"fan-out of {today}: {inserted:,} rows from {n:,} enrollments, "
        f"{first.messages} scheduled messages, {first.batches} batches: {fan_seconds:.2f}s"
    )
    rss = first.batch_rss_mb
    log(
        f"worker RSS: {first.start_rss_mb} MB before, after each batch "
        f"{min(rss)}-{max(rss)} MB, peak {first.peak_rss_mb} MB"
    )
    again = fan_out_in_worker(url, today, args.batch)
    log(f"re-run of the same day: {again.inserted} rows added in {again.seconds:.2f}s")

    truncate_outbox(engine)
    raw_same = raw_insert(engine, max(1, inserted), n)
    log(f"raw INSERT ... SELECT of {inserted:,} rows (the fan-out's count): {raw_same:.2f}s")
    truncate_outbox(engine)

    log("")
    log(f"fan-out / raw insert of 1,000,000 rows: {fan_seconds / raw_1m:.2f}x (goal <= 3x)")
    log(f"fan-out / raw insert of the same {inserted:,} rows: {fan_seconds / raw_same:.2f}x")
    log(f"rows/s: fan-out {inserted / fan_seconds:,.0f}, raw {baseline_rows / raw_1m:,.0f}")
    log(f"worker peak RSS: {first.peak_rss_mb} MB (goal <= 300 MB, flat)")
    log("")
    log("cost per beneficiary of the whole programme (pregnancy weeks 8-42 + infant 0-24 months):")
    for language, spelling, segments, xof in programme_costs():
        log(f"  {language:2} {spelling:7} {segments:4} segments  {xof:>5} XOF")


if __name__ == "__main__":
    main()
