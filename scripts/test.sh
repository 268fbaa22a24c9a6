#!/usr/bin/env bash
# The whole suite, twice: on the embedded default (SQLite + embedded Redis) and on
# PostgreSQL + Redis when they answer. With CI=true their absence is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing chromium for the browser test"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing and we are not root: the browser test will be skipped"
  fi
fi

echo "== lint"
$PY -m ruff check .
$PY -m mypy outreach workers messages

echo "== dependency audit (fails on a finding not in audit-allowlist.toml)"
$PY scripts/audit_deps.py

PG_URL="${OUTREACH_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
REDIS_URL="${OUTREACH_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
sqlite_pass() { env -u OUTREACH_DATABASE_URL -u OUTREACH_REDIS_URL $PY -m pytest "$@"; }
postgres_pass() { OUTREACH_DATABASE_URL="$PG_URL" OUTREACH_REDIS_URL="$REDIS_URL" $PY -m pytest "$@"; }

if ! $PY scripts/probe_services.py "$PG_URL" "$REDIS_URL"; then
  if [ "${CI:-}" = "true" ]; then
    echo "FAIL: PostgreSQL or Redis unreachable, and CI=true requires both passes"
    exit 1
  fi
  echo "== pass 1: SQLite + embedded Redis"
  sqlite_pass "$@"
  echo "SKIP: PostgreSQL or Redis unreachable; only the embedded pass ran"
  exit 0
fi

if [ "${OUTREACH_TEST_SERIAL:-}" = "1" ]; then
  echo "== pass 1: SQLite + embedded Redis"
  sqlite_pass "$@"
  echo "== pass 2: PostgreSQL + Redis"
  postgres_pass "$@"
  exit 0
fi

# The two passes share nothing (own database, own Redis, free ports for the processes
# they start) and each keeps mostly one core busy, so they run side by side: the whole
# run takes about as long as the slower pass. Their outputs are shown one after the other.
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
echo "== pass 1 (SQLite + embedded Redis) and pass 2 (PostgreSQL + Redis), side by side"
sqlite_pass "$@" >"$logs/sqlite.log" 2>&1 &
first=$!
postgres_pass "$@" >"$logs/postgres.log" 2>&1 &
second=$!
status=0
wait "$first" || status=1
echo "== pass 1: SQLite + embedded Redis"
cat "$logs/sqlite.log"
wait "$second" || status=1
echo "== pass 2: PostgreSQL + Redis"
cat "$logs/postgres.log"
exit "$status"
