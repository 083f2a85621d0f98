#!/usr/bin/env bash
# The database tests on PostgreSQL and MariaDB, then the whole suite on the default SQLite
# (last, so that its pytest summary is the final line). Extra arguments go to every run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

# The two database passes are independent (their own servers, test databases, data folders
# and Redis key prefixes) and light: they run side by side, each printed when both are done.
logs="$(mktemp -d)"
DPXDT_DB_TESTS_ONLY=1 DATABASE_URL="${DPXDT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/dpxdt}" \
  "$PY" -m pytest -q -p no:cacheprovider "$@" > "$logs/postgresql" 2>&1 &
postgresql=$!
DPXDT_DB_TESTS_ONLY=1 DATABASE_URL="${DPXDT_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/dpxdt}" \
  "$PY" -m pytest -q -p no:cacheprovider "$@" > "$logs/mariadb" 2>&1 &
mariadb=$!
status=0
wait "$postgresql" || status=$?
echo "== PostgreSQL =="
cat "$logs/postgresql"
wait "$mariadb" || status=$?
echo "== MariaDB =="
cat "$logs/mariadb"
rm -rf "$logs"
if [[ $status != 0 ]]; then
  echo "a database pass failed (exit $status); the SQLite pass runs anyway"
fi
echo "== SQLite =="
sqlite=0
env -u DATABASE_URL "$PY" -m pytest "$@" || sqlite=$?
if [[ $sqlite != 0 ]]; then exit "$sqlite"; fi
exit "$status"
