"""Plan the next day's reminders for 200,000 upcoming appointments, on PostgreSQL.

    .venv/bin/python bench/reminders.py \
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/outreach_appointments] [--n 200000]

The database is WIPED (schema `public` dropped) and filled with generated women, each
with one appointment tomorrow (every kind, 70% own phone, 15% shared, 15% through
their CHW). Printed, measured in the same run on the same table:

- `appointments.plan_reminders`' planning step (`outreach.appointments.planning.run`)
  from the start of today: both reminders of every appointment (this evening's and
  tomorrow morning's, 2 rows per appointment);
- a raw `INSERT ... SELECT` of the same number of outbox rows of the same width
  (goal: planning within 3x of it);
- the re-run (everything already planned: nothing inserted).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from encrypted_seed import encrypt_numbers  # noqa: E402 - after the path is set

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/outreach_appointments"
KINDS = ("anc", "postnatal", "vaccination", "growth", "vitamin_a", "clinic_day", "awareness")

RAW_INSERT = """
INSERT INTO outbound_message (dedupe_key, kind, priority, to_number, to_index, body,
    sender_id, language, beneficiary_id, status, due_at, expires_at, created_at, updated_at,
    attempt_count)
SELECT 'raw:' || g || '-eve', 'reminder', 1, lpad(g::text, 100, 'x'), md5(g::text),
       repeat('x', 90), NULL, 'fr', 1 + (g - 1) % :people, 'queued', now(), now(), now(), now(), 0
FROM generate_series(1, :rows) AS g
"""


def log(message: str) -> None:
    print(message, flush=True)


def generate(url: str, n: int) -> None:
    from sqlalchemy import text

    from outreach.db import build_engine
    from outreach.timeutil import local_today

    tomorrow = local_today() + timedelta(days=1)
    chws = max(1, n // 500)
    kinds = "ARRAY[" + ", ".join(f"'{k}'" for k in KINDS) + "]"
    sql = [
        f"""INSERT INTO phone (id, e164, e164_index, status, created_at)
        SELECT g, '+2237' || lpad(g::text, 7, '0'), '+2237' || lpad(g::text, 7, '0'), 'active',
               now()
        FROM generate_series(1, {n}) g WHERE g % 20 NOT IN (15, 17, 18, 19)""",  # noqa: S608
        f"""INSERT INTO phone (id, e164, e164_index, status, created_at)
        SELECT {n} + g, '+2236' || lpad(g::text, 7, '0'), '+2236' || lpad(g::text, 7, '0'),
               'active', now()
        FROM generate_series(1, {chws}) g""",  # noqa: S608
        f"""INSERT INTO chw (id, name, phone_id, pin_hash, language, failed_pin_attempts,
            active, created_at)
        SELECT g, 'ASC ' || g, {n} + g, 'x', 'fr', 0, true, now()
        FROM generate_series(1, {chws}) g""",  # noqa: S608
        f"""INSERT INTO beneficiary (id, code, name, phone_id, phone_kind, chw_id, language,
            displaced, status, created_at)
        SELECT g, g::text, 'Awa Traore ' || g,
               CASE WHEN g % 20 < 15 THEN g WHEN g % 20 = 16 THEN g - 2 END,
               CASE WHEN g % 20 < 14 THEN 'own' WHEN g % 20 < 17 THEN 'shared' ELSE 'none' END,
               1 + g % {chws}, CASE WHEN g % 5 < 3 THEN 'fr' ELSE 'bm' END,
               false, 'active', now()
        FROM generate_series(1, {n}) g""",  # noqa: S608
        f"""INSERT INTO appointment (id, dedupe_key, beneficiary_id, kind, due_on, place,
            status, source, addressee, created_at, updated_at)
        SELECT g, 'bench:' || g, g, ({kinds})[1 + g % {len(KINDS)}], DATE '{tomorrow}',
               'CSCom Bla', 'scheduled', 'proposed', 'Awa Traore ' || g, now(), now()
        FROM generate_series(1, {n}) g""",  # noqa: S608
        f"SELECT setval('phone_id_seq', {n + chws})",
        f"SELECT setval('chw_id_seq', {chws})",
        f"SELECT setval('beneficiary_id_seq', {n})",
        f"SELECT setval('appointment_id_seq', {n})",
    ]
    engine = build_engine(url)
    with engine.begin() as conn:
        for statement in sql:
            conn.execute(text(statement))
    encrypt_numbers(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=os.environ.get("OUTREACH_BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--n", type=int, default=200_000)
    args = parser.parse_args()
    os.environ["OUTREACH_DATABASE_URL"] = args.url
    if not args.url.startswith("postgresql"):
        sys.exit("PostgreSQL only: the measure is for production")

    from sqlalchemy import text

    from outreach.appointments import planning
    from outreach.db import get_engine
    from outreach.migrate import upgrade
    from outreach.timeutil import local_today

    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(args.url)
    started = time.perf_counter()
    generate(args.url, args.n)
    log(f"generated {args.n:,} appointments tomorrow in {time.perf_counter() - started:.1f}s")

    today = local_today()
    start_of_day = datetime.combine(today, dtime(0, 0), tzinfo=UTC)
    result = planning.run(today=today, now=start_of_day)
    log(
        f"planning: {result.inserted:,} reminders in {result.batches} batches, "
        f"{result.seconds:.2f}s"
    )
    again = planning.run(today=today, now=start_of_day)
    log(f"re-run: {again.inserted:,} inserted, {again.seconds:.2f}s")

    with engine.begin() as conn:
        raw_started = time.perf_counter()
        conn.execute(text(RAW_INSERT), {"rows": result.inserted, "people": args.n})
        raw = time.perf_counter() - raw_started
    log(f"raw INSERT ... SELECT of {result.inserted:,} rows: {raw:.2f}s")
    log(f"ratio planning / raw: {result.seconds / raw:.2f}x (goal: <= 3x)")


if __name__ == "__main__":
    main()
