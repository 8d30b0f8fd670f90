#!/usr/bin/env bash
# build.sh: makes web/dist, the web root parleyd serves: "npm ci" when node_modules is missing or older
# than package-lock.json, then "node build.mjs" (half a second: it copies Converse.js and writes
# config.js from PARLEY_DOMAIN and PARLEY_ANON_HOST, see build.mjs).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	echo "web: npm ci"
	npm ci --no-audit --no-fund --loglevel=error
fi
node build.mjs
