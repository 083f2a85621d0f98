#!/usr/bin/env bash
# make run: Depicted on its embedded defaults (SQLite, local files, filesystem broker, all in
# $DPXDT_DATA_DIR, default ./var): migrate, bootstrap, then one web server and one worker
# (with the periodic sweeper) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export DPXDT_DATA_DIR="${DPXDT_DATA_DIR:-$PWD/var}"
mkdir -p "$DPXDT_DATA_DIR"

# A stable secret key, made once and kept with the data (sessions survive restarts): the
# settings make $DPXDT_DATA_DIR/secret_key on first use unless DPXDT_SECRET_KEY is set. With a
# data directory other than ./var (a production layout), make run still keeps one there.
if [ -z "${DPXDT_SECRET_KEY:-}" ] && [ "$DPXDT_DATA_DIR" != "$PWD/var" ]; then
  [ -s "$DPXDT_DATA_DIR/secret_key" ] || (umask 077; "$PY" -c \
    "import secrets; print(secrets.token_urlsafe(50))" > "$DPXDT_DATA_DIR/secret_key")
  export DPXDT_SECRET_KEY="$(cat "$DPXDT_DATA_DIR/secret_key")"
fi
HOST="${DPXDT_HOST:-127.0.0.1}"
PORT="${DPXDT_PORT:-8000}"
# Plain http on this machine: cookies without the Secure flag, links to this address.
export DPXDT_SECURE_COOKIES="${DPXDT_SECURE_COOKIES:-false}"
export DPXDT_PUBLIC_URL="${DPXDT_PUBLIC_URL:-http://$HOST:$PORT}"

"$PY" manage.py migrate --noinput -v0
"$PY" manage.py collectstatic --noinput -v0
credentials="$("$PY" manage.py dpxdt_bootstrap --json)"

pids=()
stop() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop EXIT INT TERM

.venv/bin/gunicorn dpxdt_site.wsgi --bind "$HOST:$PORT" --workers 2 --threads 4 \
  --access-logfile - --error-logfile - &
pids+=($!)
.venv/bin/celery -A celery_app worker -Q capture,diff,default -c 1 -B \
  -s "$DPXDT_DATA_DIR/celerybeat-schedule" --loglevel INFO &
pids+=($!)

"$PY" - "$credentials" "$HOST" "$PORT" <<'PYEOF'
import json, sys
data = json.loads(sys.argv[1])
url = f"http://{sys.argv[2]}:{sys.argv[3]}"
print(f"""
Depicted is running at {url}/   (Ctrl-C stops it)
  log in:   {data['username']} / {data.get('password', '(set when the user was first created; '
                                                    'change it with: .venv/bin/python manage.py changepassword admin)')}
  API:      {url}/api   build_id={data['build_id']}
  API key:  {data['api_key']}
  secret:   {data['api_secret']}   (shown once; stored hashed)
""", flush=True)
PYEOF
wait -n "${pids[@]}"
