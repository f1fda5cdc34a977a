#!/usr/bin/env bash
# One-time-per-change setup shared by `make run` and `make test`; idempotent.
#   scripts/bootstrap.sh run   -> venv, deps, services, .env, database, migrations
#   scripts/bootstrap.sh test  -> the same without creating/migrating the dev database
set -euo pipefail
cd "$(dirname "$0")/.."
MODE="${1:-run}"
PY="${PYTHON:-python3}"
say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] %s\033[0m\n' "$*" >&2; exit 1; }

# --- Python and the virtualenv -------------------------------------------------------------
command -v "$PY" >/dev/null || die "python3 (3.11+) is required: apt-get install python3 python3-venv"
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "Python 3.11+ is required"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PY" -m venv .venv || die "python3 -m venv failed: apt-get install python3-venv"
fi
stamp=.venv/.requirements-$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  say "installing Python dependencies"
  # pip's own output only when it fails (this machine's pip config is chatty).
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt > .venv/pip.log 2>&1 \
    || { cat .venv/pip.log >&2; die "pip install failed (log: .venv/pip.log)"; }
  rm -f .venv/.requirements-* && touch "$stamp"
fi

# --- The compiled engine (mypyc), when a C compiler is there; never fails the setup ------------
.venv/bin/python scripts/build_engine.py || true

# --- Generated local secrets (.env is git-ignored; real deployments set these variables) -----
touch .env
gen() { .venv/bin/python -c "import base64, secrets; print(base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())"; }
grep -q '^SECRET_KEY=' .env || echo "SECRET_KEY=$(gen)" >> .env
grep -q '^API_KEY_ENCRYPTION_KEY=' .env || echo "API_KEY_ENCRYPTION_KEY=$(gen)" >> .env

# --- Services ---------------------------------------------------------------------------------
eval "$(.venv/bin/python scripts/service_urls.py)"   # DB_HOST DB_PORT DB_NAME REDIS_HOST REDIS_PORT
is_local() { case "$1" in 127.*|localhost|::1|"") return 0;; *) return 1;; esac; }
apt_install() {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    die "missing $*: install it (Debian: sudo apt-get install $*) or point the URL at a running server"
  fi
}
pg_up() { .venv/bin/python -c "
import psycopg, sys
try: psycopg.connect(host='$DB_HOST', port=$DB_PORT, user='${DB_USER:-postgres}', password='$DB_PASSWORD' or None, dbname='postgres', connect_timeout=2).close()
except Exception: sys.exit(1)"; }
redis_up() { .venv/bin/python -c "
import redis, sys
try: redis.Redis(host='$REDIS_HOST', port=$REDIS_PORT, socket_connect_timeout=2).ping()
except Exception: sys.exit(1)"; }

if ! pg_up; then
  is_local "$DB_HOST" || die "PostgreSQL at $DB_HOST:$DB_PORT is not reachable (DATABASE_URL)"
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  ver=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
  [ -n "$ver" ] || die "PostgreSQL is installed but has no cluster: pg_createcluster <version> main"
  say "starting PostgreSQL $ver"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 0.5; done
  pg_up || die "PostgreSQL did not come up on $DB_HOST:$DB_PORT; see /var/log/postgresql/"
fi
if ! redis_up; then
  is_local "$REDIS_HOST" || die "Redis at $REDIS_HOST:$REDIS_PORT is not reachable (REDIS_URL)"
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting Redis on port $REDIS_PORT"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /tmp --logfile /tmp/redis-"$REDIS_PORT".log
  for _ in $(seq 1 30); do redis_up && break; sleep 0.3; done
  redis_up || die "Redis did not come up on $REDIS_HOST:$REDIS_PORT; see /tmp/redis-$REDIS_PORT.log"
fi

# --- A browser for the trader UI's tests (tests/browser/): Debian's chromium, driven by the
# playwright package (requirements-dev.txt); `playwright install` is not used (no download).
if [ "$MODE" = test ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt_install chromium
  else
    die "missing chromium for the browser tests: install it (Debian: sudo apt-get install chromium; elsewhere put a Chromium named 'chromium' on PATH)"
  fi
fi

[ "$MODE" = test ] && exit 0

# --- Database and migrations ------------------------------------------------------------------
.venv/bin/python - <<PYEOF
import psycopg
from psycopg import sql
conn = psycopg.connect(host="$DB_HOST", port=$DB_PORT, user="${DB_USER:-postgres}", password="$DB_PASSWORD" or None, dbname="postgres", autocommit=True)
if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", ("$DB_NAME",)).fetchone():
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("$DB_NAME")))
    print("[setup] created database $DB_NAME")
PYEOF
.venv/bin/python manage.py migrate --noinput -v 0
say "database $DB_NAME migrated"
