#!/usr/bin/env bash
# deps.sh: installs the Debian packages parley needs, only when some are missing.
#   deps.sh build   - to build and run parleyd, and node + npm to build the web client (web/)
#   deps.sh test    - also what the test suites need (cmocka, clang/libFuzzer, pytest, slixmpp, chromium)
# node/npm may come from elsewhere (nvm, NodeSource): Debian's nodejs and npm are installed only when the
# command is missing.
set -euo pipefail
build_pkgs=(cmake make gcc pkg-config openssl libuv1-dev libssl-dev libexpat1-dev libsqlite3-dev
	libidn11-dev libinih-dev libjansson-dev libsodium-dev uthash-dev node-llhttp libwslay-dev)
test_pkgs=(libcmocka-dev clang libclang-rt-14-dev python3-pytest python3-slixmpp procps
	chromium)
want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")
missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
	echo "parley: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}"
fi
