# Shared, idempotent setup steps for scripts/demo.sh and scripts/test.sh.
# Source it from the repository root.

ROOT=$PWD
VENV=$ROOT/.venv

say() { printf '==> %s\n' "$*" >&2; }

have() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]
}

fingerprint() {  # fingerprint FILE... -> one sha256 over their contents
    cat "$@" | sha256sum | cut -d' ' -f1
}

# ensure_system_packages BINARY... : apt-get the Debian packages that provide
# the missing binaries (as root only; otherwise say what is missing).
ensure_system_packages() {
    local -a missing=()
    local bin
    for bin in "$@"; do
        have "$bin" && continue
        case $bin in
            node) missing+=(nodejs) ;;
            chromedriver) missing+=(chromium-driver) ;;
            *) missing+=("$bin") ;;
        esac
    done
    if [ ! -x "$VENV/bin/python" ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=(python3-venv)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        say "missing system packages: ${missing[*]} (not root: not installing them)"
        return 0
    fi
    say "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
}

# ensure_venv EXTRAS [VENV_DIR [PYTHON]] : a virtualenv (.venv made with python3
# by default) with txsocketio installed editable (compat mode, so that twistd
# finds the plugin in twisted/plugins/), e.g. ensure_venv "[test]".
ensure_venv() {
    local extras=$1 venv=${2:-$VENV} python=${3:-python3}
    local stamp=$venv/.txsocketio-install$1.sha256 want
    if [ ! -x "$venv/bin/python" ]; then
        say "creating $venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install -q --disable-pip-version-check -U pip
    fi
    want=$(fingerprint pyproject.toml setup.py)
    if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && "$venv/bin/python" -c 'import txsocketio' 2>/dev/null; then
        return 0
    fi
    say "pip install -e '.$extras' (${venv#"$ROOT"/})"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
        --config-settings editable_mode=compat -e ".$extras" || return 1
    echo "$want" >"$stamp"
}

# ensure_node_packages DIR : `npm ci` in DIR when node_modules is missing or stale.
ensure_node_packages() {
    local dir=$1 stamp=$1/node_modules/.txsocketio-lock.sha256 want
    if ! have npm; then
        say "npm is missing: not installing the packages of ${dir#"$ROOT"/}"
        return 0
    fi
    want=$(fingerprint "$dir/package-lock.json")
    if [ -d "$dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    say "npm ci in ${dir#"$ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

# The npm package of the browser client that txsocketio ships in
# txsocketio/client_dist/ (pinned by the root package-lock.json):
# tests/interop/test_client_bundle.py compares the shipped copy with it, and
# scripts/update-client-bundle.py refreshes the copy.
ensure_root_node_packages() {
    ensure_node_packages "$ROOT"
}
