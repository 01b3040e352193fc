#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on loopback for the tests that exercise the store on PostgreSQL.
# Installs Debian's postgresql when missing (CI machines start without it). Prints the SQLAlchemy URL.
# Usage: export CC_TEST_POSTGRES_URL="$(bash .ci/postgres.sh [DIR] [PORT])"   (default: a free port)
set -euo pipefail
dir=${1:-$(mktemp -d /tmp/cc-pg-XXXXXX)}
port=${2:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2
fi
bin=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")
mkdir -p "$dir"
chown postgres "$dir"
runuser -u postgres -- "$bin/initdb" -D "$dir/data" -U postgres -A trust >&2
runuser -u postgres -- "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" start >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$port/postgres"
