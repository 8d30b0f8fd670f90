#!/usr/bin/env bash
# run.sh: the quick start. Installs what is missing, builds, and starts parleyd in the foreground with
# the embedded defaults (SQLite under ./var, a self-signed certificate generated on first start, virtual
# host localhost, XMPP clients on port 5222 with STARTTLS and 5223 with Direct TLS, and the web chat
# (Converse.js, built into web/dist by web/build.sh) at http://localhost:8080). Extra arguments go to
# parleyd (e.g. --daemon.c2s_port=15222). Uses ./parley.ini when it exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/deps.sh build
bash scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo
bash web/build.sh
echo "parley: built. Add a user in another terminal with: $root/build/parleyctl adduser alice@localhost"
exec ./build/parleyd "$@"
