#!/usr/bin/env bash
# Start the local services the test suite talks to, if they are not running already:
# scripts/services.sh [redis] [postgresql] [mariadb] (default: all three). The one place that
# knows how to start each (tests/environment.py calls it for Redis).
set -euo pipefail
wanted=" ${*:-redis postgresql mariadb} "

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {  # port name
  for _ in $(seq 1 100); do up "$1" && return 0; sleep 0.2; done
  echo "$2 did not start on 127.0.0.1:$1" >&2
  return 1
}

if [[ $wanted == *" redis "* ]] && ! up 6379; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_for 6379 Redis
fi
if [[ $wanted == *" postgresql "* ]] && ! up 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  wait_for 5432 PostgreSQL
fi
if [[ $wanted == *" mariadb "* ]] && ! up 3306; then
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for 3306 MariaDB
fi
