#!/usr/bin/env bash
# The database tests on PostgreSQL and MariaDB, then the whole suite on the default SQLite
# (last, so that its pytest summary is the final line). Extra arguments go to every run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

echo "== PostgreSQL =="
DPXDT_DB_TESTS_ONLY=1 DATABASE_URL="${DPXDT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/dpxdt}" \
  "$PY" -m pytest -q -p no:cacheprovider "$@"
echo "== MariaDB =="
DPXDT_DB_TESTS_ONLY=1 DATABASE_URL="${DPXDT_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/dpxdt}" \
  "$PY" -m pytest -q -p no:cacheprovider "$@"
echo "== SQLite =="
env -u DATABASE_URL "$PY" -m pytest "$@"
