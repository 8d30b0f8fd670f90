#!/usr/bin/env bash
# test.sh: runs every test suite and ends with one summary line "N passed, N failed".
#   1. C unit tests (cmocka, via ctest) on a normal build
#   2. black-box tests (pytest + slixmpp + raw sockets, node clients, headless Chromium running the web
#      client from web/dist) against the real parleyd
#   3. the unit and black-box tests again on an AddressSanitizer + UndefinedBehaviorSanitizer build
#   4. every libFuzzer target for FUZZ_SECONDS (default 20) each
# Installs what is missing first. Exit status is non-zero when anything failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/deps.sh test || exit 1
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
PY=/usr/bin/python3
passed=0
failed=0
mkdir -p tests/artifacts

count_ctest() { # parses "N% tests passed, F tests failed out of T"
	local log=$1 line t f
	line=$(grep -E "tests passed, [0-9]+ tests? failed out of" "$log" | tail -1)
	if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
	f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
	t=$(echo "$line" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
	passed=$((passed + t - f)); failed=$((failed + f))
}
count_pytest() { # parses pytest's summary: "3 failed, 40 passed in 12.3s" (with or without "=" around)
	# a skipped test counts as failed: this script installs everything, so a skip hides a missing part
	local log=$1 line p f e s
	line=$(grep -E "^=* ?[0-9]+ (passed|failed|skipped|errors?).* in [0-9.]+s" "$log" | tail -1)
	if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
	p=$(echo "$line" | grep -oE "[0-9]+ passed" | grep -oE "[0-9]+" || echo 0)
	f=$(echo "$line" | grep -oE "[0-9]+ failed" | grep -oE "[0-9]+" || echo 0)
	e=$(echo "$line" | grep -oE "[0-9]+ errors?" | grep -oE "[0-9]+" || echo 0)
	s=$(echo "$line" | grep -oE "[0-9]+ skipped" | grep -oE "[0-9]+" || echo 0)
	[ "$s" -gt 0 ] && echo "$s skipped tests count as failed"
	passed=$((passed + p)); failed=$((failed + f + e + s))
}

suite() { echo; echo "=== $* ==="; }
npm_deps() { # npm ci in $1 when its node_modules is missing or older than its lockfile
	local stamp=$1/node_modules/.package-lock.json
	if [ ! -f "$stamp" ] || [ "$1/package-lock.json" -nt "$stamp" ]; then
		(cd "$1" && npm ci --no-audit --no-fund --loglevel=error)
	fi
}

suite "build (RelWithDebInfo)"
if ! bash scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo; then
	echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi
suite "web client and node test dependencies"
if ! { bash web/build.sh && npm_deps tests/interop && npm_deps tests/browser; }; then
	echo "web build or npm ci failed"; failed=$((failed + 1))
fi
suite "unit tests"
(cd build && ctest --output-on-failure) 2>&1 | tee tests/artifacts/ctest.log
count_ctest tests/artifacts/ctest.log
suite "black-box tests"
PARLEY_BUILD=$root/build $PY -m pytest -q -p no:cacheprovider tests/blackbox 2>&1 | tee tests/artifacts/pytest.log
count_pytest tests/artifacts/pytest.log

suite "build (ASan + UBSan)"
if bash scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON; then
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	suite "unit tests (ASan + UBSan)"
	(cd build-asan && ctest --output-on-failure) 2>&1 | tee tests/artifacts/ctest-asan.log
	count_ctest tests/artifacts/ctest-asan.log
	suite "black-box tests (ASan + UBSan)"
	PARLEY_ASAN=1 PARLEY_BUILD=$root/build-asan $PY -m pytest -q -p no:cacheprovider tests/blackbox 2>&1 |
		tee tests/artifacts/pytest-asan.log
	count_pytest tests/artifacts/pytest-asan.log
	unset ASAN_OPTIONS UBSAN_OPTIONS
else
	echo "sanitizer build failed"; failed=$((failed + 1))
fi

suite "fuzzing (${FUZZ_SECONDS}s per target)"
if bash scripts/build.sh build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DPARLEY_FUZZ=ON; then
	nfuzz=0
	for bin in build-fuzz/fuzz_*; do
		[ -x "$bin" ] || continue
		name=$(basename "$bin"); name=${name#fuzz_}
		nfuzz=$((nfuzz + 1))
		work=$(mktemp -d)
		[ -d "fuzz/corpus/$name" ] && cp -r "fuzz/corpus/$name/." "$work/"
		if "$bin" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -artifact_prefix="tests/artifacts/" \
			"$work" >"tests/artifacts/fuzz_$name.log" 2>&1; then
			echo "fuzz_$name: ok ($(grep -oE 'Done [0-9]+ runs' "tests/artifacts/fuzz_$name.log" | tail -1))"
			passed=$((passed + 1))
		else
			echo "fuzz_$name: FAILED"; tail -30 "tests/artifacts/fuzz_$name.log"
			failed=$((failed + 1))
		fi
		rm -rf "$work"
	done
	[ "$nfuzz" -gt 0 ] || { echo "no fuzz target was built"; failed=$((failed + 1)); }
else
	echo "fuzz build failed"; failed=$((failed + 1))
fi

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
