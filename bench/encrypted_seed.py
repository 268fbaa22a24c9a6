"""Numbers seeded in clear by a benchmark's SQL, rewritten as the application stores them.

Generating a million rows in SQL is fast, but SQL cannot encrypt: the seed writes each
number in clear (and the number itself as a provisional blind index, to satisfy the
unique constraint), then this rewrites them with the application's keys, through COPY
into a temporary table and one UPDATE per chunk, so the measured queries read real
ciphertext of the real width.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

CHUNK = 50_000

# (table, encrypted column, its blind index, the network-prefix column or None, and
# what marks a row the seed wrote in clear: rows the application wrote are left alone)
NUMBERS = (
    ("phone", "e164", "e164_index", "prefix", "e164_index = e164"),
    ("outbound_message", "to_number", "to_index", None, "to_index IS NULL"),
    # The seeds write no reply from a short code, the only kind the app leaves unindexed.
    ("inbound_message", "from_number", "from_index", None, "from_index IS NULL"),
)


def encrypt_numbers(engine: Engine) -> int:
    """Encrypt every number the seed wrote in clear; returns the rows rewritten."""
    from outreach.encryption import keys
    from outreach.registry.models import network_prefix

    done = 0
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for table, column, index, prefix, in_clear in NUMBERS:
            last = 0
            while True:
                cur.execute(
                    f"SELECT id, {column} FROM {table} WHERE id > %s AND {in_clear}"  # noqa: S608
                    " ORDER BY id LIMIT %s",
                    (last, CHUNK),
                )
                rows = cur.fetchall()
                if not rows:
                    break
                cur.execute(
                    "CREATE TEMP TABLE enc (id bigint PRIMARY KEY, v text, i text, p text)"
                    " ON COMMIT DROP"
                )
                # Ids of one table share few numbers: each index is computed once.
                hashes: dict[str, str] = {}
                with cur.copy("COPY enc (id, v, i, p) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row_id, number in rows:
                        if number not in hashes:
                            hashes[number] = keys.blind_index(number)
                        copy.write_row(
                            (row_id, keys.encrypt(number), hashes[number], network_prefix(number))
                        )
                extra = f", {prefix} = enc.p" if prefix else ""
                cur.execute(
                    f"UPDATE {table} t SET {column} = enc.v, {index} = enc.i{extra}"  # noqa: S608
                    " FROM enc WHERE t.id = enc.id"
                )
                raw.commit()
                done += len(rows)
                last = rows[-1][0]
    finally:
        raw.close()
    return done
