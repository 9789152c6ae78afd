#!/usr/bin/env bash
# Set up everything the test suite needs, then run it.
#
#   bash scripts/test.sh                      # the whole suite, then the fast tier
#                                             # on every other supported Python
#   bash scripts/test.sh --fast               # the fast tier only (tests/test_*.py),
#                                             # default Python: seconds
#   bash scripts/test.sh --matrix             # the fast tier on the other Pythons only
#   bash scripts/test.sh tests.test_support   # selected tests (any trial arguments)
#
# Setup is idempotent and quick when nothing changed:
#   * apt-get (only as root, only for missing binaries): redis-server,
#     chromium, chromedriver, nginx, nodejs, npm, python3-venv;
#   * .venv is created if missing, and `pip install -e '.[test,docs]'` is re-run
#     when pyproject.toml / setup.py change;
#   * `npm ci` in tests/node (interop peers) and at the root (the browser
#     client bundle) runs when node_modules is missing or package-lock.json
#     changed.
# (The steps live in scripts/setup-lib.sh, shared with scripts/demo.sh.)
#
# Tiers: the fast tier is tests/test_*.py (no sockets, no subprocesses); the
# interop tier is tests/interop/ (real peers).  A full run (no arguments) runs
# both on the default Python (.venv), then the matrix phase: for each other
# Python the package claims (MATRIX_PYTHONS, default 3.10 3.11 3.12 3.13 less
# the default one), a .venv-3.X with '.[test]' and the fast tier on it.
# TXSIO_MATRIX=0 skips the matrix phase.
#
# Each run goes through `python -m twisted.trial -j2` with its output on the
# terminal and in test-artifacts/trial*.log; the last line adds them all up:
# `N passed, N failed[, N skipped]`.  Exit status 0 only if every phase ran
# something and nothing failed.
#
# Under CI=true (see .ci/run) tests whose tool is missing fail instead of
# skipping, and so does a missing matrix interpreter.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup-lib.sh
NODE_DIR=$ROOT/tests/node
ARTIFACTS=$ROOT/test-artifacts
LOG=$ARTIFACTS/trial.log

# What the default venv gets: the test tools, and Sphinx & co. for the docs
# build test (tests/interop/test_docs.py).
TEST_EXTRAS="[test,docs]"
# The Pythons the package claims (pyproject's requires-python and classifiers).
MATRIX_PYTHONS=${MATRIX_PYTHONS:-3.10 3.11 3.12 3.13}

# --- run trial and summarize ----------------------------------------------------
TOTAL_PASSED=0 TOTAL_FAILED=0 TOTAL_SKIPPED=0 ALL_OK=1

count() {  # count NAME SUMMARY -> the number after NAME= in trial's summary, or 0
    local n
    n=$(grep -oE "(^|[(, ])$1=[0-9]+" <<<"$2" | grep -oE '[0-9]+$' | tail -n1 || true)
    echo "${n:-0}"
}

fast_tier() {  # the module names of the fast tier: tests/test_*.py
    local f
    for f in tests/test_*.py; do
        f=${f%.py}
        echo "${f//\//.}"
    done
}

# run_trial LABEL PYTHON LOG TARGET... : run trial, add its counts to the totals.
run_trial() {
    local label=$1 python=$2 log=$3
    shift 3
    local -a targets=("$@")
    mkdir -p "$ARTIFACTS"

    # `trial -j2` hangs after "PASSED" when it finds no tests (Twisted 26.10),
    # so count them first with a dry run and only use -j2 for 2 or more.
    local found
    found=$("$python" -m twisted.trial --dry-run "${targets[@]}" 2>&1 \
            | grep -E '^Ran [0-9]+ tests? in' | tail -n1 | grep -oE '[0-9]+' | head -n1 || true)
    local -a trial=("$python" -m twisted.trial)
    [ "${found:-0}" -ge 2 ] && trial+=(-j2)
    # In CI, a hard cap in case something hangs outside trial's per-test
    # timeouts.  (Not interactively: timeout(1) would shield the run from ^C.)
    if [ "${CI:-}" = true ]; then
        trial=(timeout --kill-after=30 "${TXSIO_TEST_TIMEOUT:-1200}" "${trial[@]}")
    fi

    if [ ${#targets[@]} -gt 6 ]; then
        say "$label: ${trial[*]#"$ROOT/"} ${targets[*]:0:3} ... (${#targets[@]} modules; log: ${log#"$ROOT"/})"
    else
        say "$label: ${trial[*]#"$ROOT/"} ${targets[*]}   (log: ${log#"$ROOT"/})"
    fi
    local status
    set +e
    "${trial[@]}" "${targets[@]}" 2>&1 | tee "$log"
    status=${PIPESTATUS[0]}  # trial's, not tee's
    set -e

    # Trial ends with "Ran N tests in Xs" and "PASSED (successes=9, skips=1)"
    # or "FAILED (failures=1, errors=2, successes=8)".  TODOs that failed
    # (expectedFailures) count as passed, unexpected successes as failed.
    local ran summary passed failed skipped
    ran=$(grep -E '^Ran [0-9]+ tests? in' "$log" | tail -n1 | grep -oE '[0-9]+' | head -n1 || true)
    summary=$(grep -E '^(PASSED|FAILED)( \(.*\))?$' "$log" | tail -n1 || true)
    if [ -n "$summary" ]; then
        ran=${ran:-0}  # no "Ran" line when no tests were found
        passed=$(( $(count successes "$summary") + $(count expectedFailures "$summary") ))
        failed=$(( $(count failures "$summary") + $(count errors "$summary") \
                   + $(count unexpectedSuccesses "$summary") ))
        skipped=$(count skips "$summary")
    else
        # No summary: trial itself crashed (with -j2 it does so on an
        # unexpected success of a string `todo`).  Count the per-test lines.
        say "$label: trial printed no summary; counting its per-test result lines"
        passed=$(grep -cE ' \[(OK|TODO)\]$' "$log" || true)
        failed=$(grep -cE ' \[(FAIL|ERROR|SUCCESS!\?!)\]$' "$log" || true)
        skipped=$(grep -cE ' \[SKIPPED\]$' "$log" || true)
        ran=$(( passed + failed + skipped ))
    fi

    local ok=1
    if [ "$ran" -eq 0 ]; then
        say "$label: no tests ran"
        ok=0
    fi
    if [ "$failed" -gt 0 ]; then
        ok=0
    fi
    if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
        say "$label: trial exited with status $status"
        ok=0
        failed=1  # the run itself failed: count it, so the last line says so
    fi
    say "$label: $passed passed, $failed failed, $skipped skipped"
    TOTAL_PASSED=$(( TOTAL_PASSED + passed ))
    TOTAL_FAILED=$(( TOTAL_FAILED + failed ))
    TOTAL_SKIPPED=$(( TOTAL_SKIPPED + skipped ))
    [ "$ok" -eq 1 ] || ALL_OK=0
}

# find_python VERSION -> a working interpreter of that version: on PATH (pyenv's
# shims answer only for the selected version), under pyenv's versions/, or
# Debian's /usr/bin.
find_python() {
    local version=$1 candidate
    local pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
    for candidate in "$(command -v "python$version" || true)" \
                     "$pyenv_root"/versions/"$version".*/bin/"python$version" \
                     "/usr/bin/python$version" "/usr/local/bin/python$version"; do
        [ -n "$candidate" ] && [ -x "$candidate" ] || continue
        if "$candidate" -c 'import venv, ensurepip' >/dev/null 2>&1; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# The matrix phase: the fast tier on every claimed Python but the default one.
run_matrix() {
    local default version python venv
    default=$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    for version in $MATRIX_PYTHONS; do
        [ "$version" = "$default" ] && continue
        if ! python=$(find_python "$version"); then
            if [ "${CI:-}" = true ]; then
                say "python$version: not found (the package claims it): counted as a failure"
                TOTAL_FAILED=$(( TOTAL_FAILED + 1 ))
                ALL_OK=0
            else
                say "python$version: not found; skipping its fast tier"
            fi
            continue
        fi
        venv=$ROOT/.venv-$version
        if ! ensure_venv "[test]" "$venv" "$python"; then
            say "python$version: setting up ${venv#"$ROOT"/} failed: counted as a failure"
            TOTAL_FAILED=$(( TOTAL_FAILED + 1 ))
            ALL_OK=0
            continue
        fi
        run_trial "python$version fast tier" "$venv/bin/python" "$ARTIFACTS/trial-$version.log" \
            $(fast_tier)
    done
}

summarize() {
    if [ "$TOTAL_SKIPPED" -gt 0 ]; then
        echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed, $TOTAL_SKIPPED skipped"
    else
        echo "$TOTAL_PASSED passed, $TOTAL_FAILED failed"
    fi
    [ "$ALL_OK" -eq 1 ]
}

if [ "${1:-}" = --matrix ]; then
    shift
    [ $# -eq 0 ] || { say "--matrix takes no other argument"; exit 2; }
    ensure_venv "$TEST_EXTRAS"
    run_matrix
    summarize
    exit
fi

if [ "${1:-}" = --fast ]; then
    shift
    [ $# -eq 0 ] || { say "--fast takes no other argument"; exit 2; }
    ensure_venv "$TEST_EXTRAS"
    run_trial "fast tier" "$VENV/bin/python" "$LOG" $(fast_tier)
    summarize
    exit
fi

ensure_system_packages redis-server chromium chromedriver nginx node npm
ensure_venv "$TEST_EXTRAS"
if ! "$VENV/bin/python" -c 'import sphinx, myst_parser, furo, towncrier' 2>/dev/null; then
    say "the docs tools are not installed: is the 'docs' extra missing from pyproject.toml?" \
        "(tests/interop/test_docs.py needs sphinx, myst-parser, furo, towncrier)"
fi
ensure_node_packages "$NODE_DIR"      # the interop peers (several client majors, Node servers)
ensure_root_node_packages             # the browser bundle the demo serves
if [ $# -gt 0 ]; then
    run_trial "selected tests" "$VENV/bin/python" "$LOG" "$@"
else
    run_trial "full suite" "$VENV/bin/python" "$LOG" tests
    [ "${TXSIO_MATRIX:-1}" = 0 ] || run_matrix
fi
summarize
