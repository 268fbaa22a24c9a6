"""Exit 0 when the PostgreSQL and Redis given on the command line both answer."""

from __future__ import annotations

import sys

import psycopg
from redis import Redis
from sqlalchemy.engine import make_url


def main() -> int:
    db_url, redis_url = sys.argv[1], sys.argv[2]
    url = make_url(db_url)
    try:
        psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            dbname=url.database,
            connect_timeout=3,
        ).close()
    except Exception as exc:
        print(f"PostgreSQL unreachable at {url.host}:{url.port}: {exc}")
        return 1
    try:
        Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:
        print(f"Redis unreachable at {redis_url}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
