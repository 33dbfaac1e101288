#!/usr/bin/env bash
# Starts a throwaway S3-compatible server on loopback for the S3 store's tests and benchmark:
# OpenStack Swift with its s3api middleware, one node, from Debian's packages. Prints the one
# thing to export (the only output on stdout; progress goes to stderr):
#
#   export E2EE_TEST_S3_URL="$(scripts/start-s3.sh)"   # http://ci%3Aci:cisecret@127.0.0.1:7480
#   scripts/start-s3.sh stop
#
# The URL carries the access key (`ci:ci`, percent-encoded) and the secret (`cisecret`) of
# tempauth's test account; clients use path-style requests and region us-east-1.
#
# Idempotent: installs Debian's swift packages if they are missing (needs root), writes its
# configuration, rings and storage under one folder on first use, and does nothing but print the
# URL when the server already answers. Stop ends exactly the processes it started, by the PIDs it
# recorded, and waits for their ports to close. A test server: fsync-free folders, a known secret,
# loopback only.
#
# Environment (all optional): E2EE_S3_PORT (7480, the S3 endpoint), E2EE_S3_BACKEND_PORT (6200:
# object, +1 container, +2 account), E2EE_S3_DIR (/tmp/e2ee-backup-s3: configuration, rings,
# data, PIDs, logs).
set -euo pipefail

port="${E2EE_S3_PORT:-7480}"
backend="${E2EE_S3_BACKEND_PORT:-6200}"
dir="${E2EE_S3_DIR:-/tmp/e2ee-backup-s3}"
url="http://ci%3Aci:cisecret@127.0.0.1:${port}"
servers=(object container account)

say() { echo "start-s3: $*" >&2; }

# GET /healthcheck answers 200 once the proxy is up (bash's /dev/tcp: no curl needed).
healthy() {
  local status
  status="$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/${port} && printf 'GET /healthcheck HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3" 2>/dev/null)" || return 1
  [[ "$status" == *" 200 "* ]]
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

stop() {
  local any=0 pid
  for name in proxy "${servers[@]}"; do
    local f="$dir/run/$name.pid"
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    # Only a process that is still the one we started: its command line names our config.
    if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$dir/"; then
      kill "$pid" 2>/dev/null || true
      any=1
    fi
    rm -f "$f"
  done
  [ "$any" = 1 ] || say "not running (no live PIDs under $dir/run)"
  # Stopped servers can stay defunct for a few seconds here: wait for the ports, not the PIDs.
  for p in "$port" "$backend" $((backend + 1)) $((backend + 2)); do
    for _ in $(seq 1 100); do
      port_open "$p" || break
      sleep 0.1
    done
  done
}

if [ "${1:-start}" = "stop" ]; then
  stop
  exit 0
fi

if healthy; then
  say "already running on 127.0.0.1:$port"
  echo "$url"
  exit 0
fi

if ! command -v swift-proxy-server >/dev/null || ! command -v swift-object-server >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    say "Swift is not installed and installing it needs root: apt-get install -y swift-proxy swift-object swift-container swift-account"
    exit 1
  fi
  say "installing Debian's swift packages (about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq swift-proxy swift-object swift-container swift-account >&2
fi
# swift.conf (the hash path prefix and storage policies) is read from /etc/swift only.
if [ ! -f /etc/swift/swift.conf ]; then
  say "/etc/swift/swift.conf is missing: reinstall the swift package"
  exit 1
fi

# A half-started earlier run (the proxy died, a backend lives on) is stopped before starting again.
stop 2>/dev/null
mkdir -p "$dir/conf" "$dir/data/d1" "$dir/run" "$dir/log"

common() {
  cat <<EOF
[DEFAULT]
swift_dir = $dir/conf
devices = $dir/data
mount_check = false
user = root
workers = 0
bind_ip = 127.0.0.1
bind_port = $1
log_level = WARNING
EOF
}

for i in 0 1 2; do
  name="${servers[$i]}"
  {
    common $((backend + i))
    cat <<EOF

[pipeline:main]
pipeline = healthcheck $name-server

[app:$name-server]
use = egg:swift#$name

[filter:healthcheck]
use = egg:swift#healthcheck
EOF
  } >"$dir/conf/$name-server.conf"
done

{
  common "$port"
  cat <<EOF

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats s3api tempauth copy slo dlo versioned_writes proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api

[filter:tempauth]
use = egg:swift#tempauth
user_ci_ci = cisecret .admin

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
EOF
} >"$dir/conf/proxy-server.conf"

for i in 0 1 2; do
  name="${servers[$i]}"
  if [ ! -f "$dir/conf/$name.ring.gz" ]; then
    say "building the $name ring"
    swift-ring-builder "$dir/conf/$name.builder" create 6 1 1 >/dev/null
    swift-ring-builder "$dir/conf/$name.builder" add "r1z1-127.0.0.1:$((backend + i))/d1" 100 >/dev/null
    swift-ring-builder "$dir/conf/$name.builder" rebalance >/dev/null
  fi
done

start_server() {
  local name="$1" bin="$2"
  # setsid: the server leaves this script's process group, so that the caller's Ctrl-C or exit
  # does not take it down half-way; it is stopped by its PID instead.
  setsid "$bin" "$dir/conf/$name-server.conf" >>"$dir/log/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/run/$name.pid"
}

say "starting Swift $(dpkg-query -W -f '${Version}' swift 2>/dev/null || echo '?') with s3api on 127.0.0.1:$port, files in $dir"
start_server object swift-object-server
start_server container swift-container-server
start_server account swift-account-server
start_server proxy swift-proxy-server

for _ in $(seq 1 600); do
  if healthy; then
    echo "$url"
    exit 0
  fi
  for name in proxy "${servers[@]}"; do
    if ! kill -0 "$(cat "$dir/run/$name.pid")" 2>/dev/null; then
      say "the $name server exited; its log ($dir/log/$name.log) ends:"
      tail -n 20 "$dir/log/$name.log" >&2
      stop 2>/dev/null
      exit 1
    fi
  done
  sleep 0.1
done
say "the proxy did not answer on 127.0.0.1:$port within 60 s"
stop 2>/dev/null
exit 1
