#!/usr/bin/env bash
# The whole suite, twice: on the embedded default (SQLite + embedded Redis), then on
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

echo "== pass 1: SQLite + embedded Redis"
env -u OUTREACH_DATABASE_URL -u OUTREACH_REDIS_URL $PY -m pytest "$@"

PG_URL="${OUTREACH_TEST_PG_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
REDIS_URL="${OUTREACH_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}"
if $PY scripts/probe_services.py "$PG_URL" "$REDIS_URL"; then
  echo "== pass 2: PostgreSQL + Redis"
  OUTREACH_DATABASE_URL="$PG_URL" OUTREACH_REDIS_URL="$REDIS_URL" $PY -m pytest "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "FAIL: PostgreSQL or Redis unreachable, and CI=true requires both passes"
  exit 1
else
  echo "SKIP: PostgreSQL or Redis unreachable; only the embedded pass ran"
fi
