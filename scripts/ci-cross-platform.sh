#!/usr/bin/env bash
# Cross-platform proof for CI (called from .ci/run after `npm ci` and `npm run build`, works
# standalone too): a real browser and workers, the examples, every kind of consumer, bundle size
# and the API docs. CI=true makes missing conformance data fail instead of skip.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI="${CI:-true}"

echo "== chromium (installs Debian's package when missing)"
bash scripts/install-chromium.sh

echo "== build (when dist/ is older than src/)"
node scripts/ensure-built.mjs

echo "== browser: suites in Chromium page + Web Worker, noble fallback, example page (npm run test:browser)"
npm run test:browser

echo "== consumers: require, import, tsc node16/bundler, esbuild bundle in Chromium, Bun, Deno"
node scripts/check-consumers.mjs

echo "== bundle size (npm run size)"
npm run size

echo "== API docs, no warnings (npm run docs)"
npm run docs

echo "== cross-platform checks passed"
