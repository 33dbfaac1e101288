#!/usr/bin/env bash
# Starts a throwaway PostgreSQL on loopback for the vault's PostgreSQL tests, and prints the URL
# to export as E2EE_TEST_PG_URL (the only thing written to stdout; progress goes to stderr):
#
#   export E2EE_TEST_PG_URL="$(scripts/start-postgres.sh)"
#   scripts/start-postgres.sh stop
#
# Idempotent: installs Debian's `postgresql` package if no server binaries are found (needs root),
# creates the data directory on first use, and does nothing but print the URL when the server is
# already up. Trust authentication on 127.0.0.1 only, fsync off: a test database, never a real one.
#
# Environment (all optional): E2EE_PG_PORT (54329), E2EE_PG_DATA (/tmp/e2ee-backup-pgdata),
# E2EE_PG_LOG (/tmp/e2ee-backup-pg.log).
set -euo pipefail

port="${E2EE_PG_PORT:-54329}"
data="${E2EE_PG_DATA:-/tmp/e2ee-backup-pgdata}"
log="${E2EE_PG_LOG:-/tmp/e2ee-backup-pg.log}"
url="postgres://postgres@127.0.0.1:${port}/postgres"

say() { echo "start-postgres: $*" >&2; }

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

bin="$(find_bin)"
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "PostgreSQL is not installed and installing it needs root: apt-get install -y postgresql"
    exit 1
  fi
  say "installing Debian's postgresql package"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
  bin="$(find_bin)"
fi

# initdb and postgres refuse to run as root: use the postgres account the package created.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

if [ "${1:-start}" = "stop" ]; then
  if [ -f "$data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$data" -m fast -w stop >&2
  else
    say "not running ($data/postmaster.pid absent)"
  fi
  exit 0
fi

if "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
  say "already running on 127.0.0.1:$port"
  echo "$url"
  exit 0
fi

if [ ! -f "$data/PG_VERSION" ]; then
  say "creating a cluster in $data"
  mkdir -p "$data"
  touch "$log"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$data" "$log"; fi
  chmod 700 "$data"
  as_owner "$bin/initdb" -D "$data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
fi

say "starting PostgreSQL ($("$bin/postgres" --version)) on 127.0.0.1:$port, log $log"
as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
  -o "-k /tmp -h 127.0.0.1 -p $port -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >&2
echo "$url"
