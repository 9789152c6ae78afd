#!/usr/bin/env bash
# Set up everything the test suite needs, then run it.
#
#   bash scripts/test.sh                      # the whole suite
#   bash scripts/test.sh tests.test_support   # selected tests (any trial arguments)
#
# Setup is idempotent and quick when nothing changed:
#   * apt-get (only as root, only for missing binaries): redis-server,
#     chromium, chromedriver, nginx, nodejs, npm, python3-venv;
#   * .venv is created if missing, and `pip install -e '.[test]'` is re-run
#     when pyproject.toml / setup.py change;
#   * `npm ci` in tests/node (interop peers) and at the root (the browser
#     client bundle) runs when node_modules is missing or package-lock.json
#     changed.
# (The steps live in scripts/setup-lib.sh, shared with scripts/demo.sh.)
# Then `python -m twisted.trial -j2 tests` runs with its output on the terminal
# and in test-artifacts/trial.log, and the last line is
# `N passed, N failed[, N skipped]`.  Exit status 0 only if something ran and
# nothing failed.
#
# Under CI=true (see .ci/run) tests whose tool is missing fail instead of
# skipping.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup-lib.sh
NODE_DIR=$ROOT/tests/node
ARTIFACTS=$ROOT/test-artifacts
LOG=$ARTIFACTS/trial.log

# --- 4. run trial and summarize ------------------------------------------------
count() {  # count NAME SUMMARY -> the number after NAME= in trial's summary, or 0
    local n
    n=$(grep -oE "(^|[(, ])$1=[0-9]+" <<<"$2" | grep -oE '[0-9]+$' | tail -n1 || true)
    echo "${n:-0}"
}

run_tests() {
    local -a targets=("$@")
    [ ${#targets[@]} -eq 0 ] && targets=(tests)
    mkdir -p "$ARTIFACTS"

    # `trial -j2` hangs after "PASSED" when it finds no tests (Twisted 26.10),
    # so count them first with a dry run and only use -j2 for 2 or more.
    local found
    found=$("$VENV/bin/python" -m twisted.trial --dry-run "${targets[@]}" 2>&1 \
            | grep -E '^Ran [0-9]+ tests? in' | tail -n1 | grep -oE '[0-9]+' | head -n1 || true)
    local -a trial=("$VENV/bin/python" -m twisted.trial)
    [ "${found:-0}" -ge 2 ] && trial+=(-j2)
    # In CI, a hard cap in case something hangs outside trial's per-test
    # timeouts.  (Not interactively: timeout(1) would shield the run from ^C.)
    if [ "${CI:-}" = true ]; then
        trial=(timeout --kill-after=30 "${TXSIO_TEST_TIMEOUT:-1200}" "${trial[@]}")
    fi

    say "${trial[*]#"$VENV/bin/"} ${targets[*]}   (log: ${LOG#"$ROOT"/})"
    local status
    set +e
    "${trial[@]}" "${targets[@]}" 2>&1 | tee "$LOG"
    status=${PIPESTATUS[0]}  # trial's, not tee's
    set -e

    # Trial ends with "Ran N tests in Xs" and "PASSED (successes=9, skips=1)"
    # or "FAILED (failures=1, errors=2, successes=8)".  TODOs that failed
    # (expectedFailures) count as passed, unexpected successes as failed.
    local ran summary passed failed skipped
    ran=$(grep -E '^Ran [0-9]+ tests? in' "$LOG" | tail -n1 | grep -oE '[0-9]+' | head -n1 || true)
    summary=$(grep -E '^(PASSED|FAILED)( \(.*\))?$' "$LOG" | tail -n1 || true)
    if [ -n "$summary" ]; then
        ran=${ran:-0}  # no "Ran" line when no tests were found
        passed=$(( $(count successes "$summary") + $(count expectedFailures "$summary") ))
        failed=$(( $(count failures "$summary") + $(count errors "$summary") \
                   + $(count unexpectedSuccesses "$summary") ))
        skipped=$(count skips "$summary")
    else
        # No summary: trial itself crashed (with -j2 it does so on an
        # unexpected success of a string `todo`).  Count the per-test lines.
        say "trial printed no summary; counting its per-test result lines"
        passed=$(grep -cE ' \[(OK|TODO)\]$' "$LOG" || true)
        failed=$(grep -cE ' \[(FAIL|ERROR|SUCCESS!\?!)\]$' "$LOG" || true)
        skipped=$(grep -cE ' \[SKIPPED\]$' "$LOG" || true)
        ran=$(( passed + failed + skipped ))
    fi

    local ok=1
    if [ "$ran" -eq 0 ]; then
        say "no tests ran"
        ok=0
    fi
    if [ "$failed" -gt 0 ]; then
        ok=0
    fi
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        say "trial exited with status $status"
        ok=0
    fi

    if [ "$skipped" -gt 0 ]; then
        echo "$passed passed, $failed failed, $skipped skipped"
    else
        echo "$passed passed, $failed failed"
    fi
    [ "$ok" -eq 1 ]
}

ensure_system_packages redis-server chromium chromedriver nginx node npm
ensure_venv "[test]"
ensure_node_packages "$NODE_DIR"      # the interop peers (several client majors, Node servers)
ensure_root_node_packages             # the browser bundle the demo serves
run_tests "$@"
