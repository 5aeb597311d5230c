#!/usr/bin/env bash
# One entry point for a fresh machine: installs what Headwater needs, then runs it or its tests.
#   ./dev.sh run    Headwater on embedded defaults at http://127.0.0.1:8000
#   ./dev.sh test   lint, type checks and the whole test suite
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
VENV=.venv

have_postgres() {
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || [ -n "${HEADWATER_PG_BIN:-}" ]
}

setup() {
    if ! have_postgres && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        # The PyPI pgserver package is the fallback, but the distribution's server is preferred.
        apt-get update -qq && apt-get install -y -qq postgresql >/dev/null || true
    fi
    if ! command -v npm >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null || true
    fi
    if ! command -v npm >/dev/null; then
        echo "dev.sh: npm (Node.js) is needed to build the web UI and lint Cypher: install it" >&2
        exit 2
    fi
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    local stamp="$VENV/.installed" want
    want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        "$VENV/bin/pip" install -q --upgrade pip
        # torch first, pinned: pip takes the CPU build from this machine's disk; any other build
        # (or letting sentence-transformers choose) pulls several GB.
        if ! "$VENV/bin/pip" show torch 2>/dev/null | grep -Eq '^Version: 2\.13\.0(\+|$)'; then
            "$VENV/bin/pip" install -q torch==2.13.0
        fi
        "$VENV/bin/pip" install -q -e '.[dev]'
        echo "$want" > "$stamp"
    fi
    build_ui
    # Neo4j's own Cypher linter, pinned by the lock file.
    if [ ! -d tools/cypher-lint/node_modules ] || [ tools/cypher-lint/package-lock.json -nt tools/cypher-lint/node_modules ]; then
        (cd tools/cypher-lint && npm ci --no-audit --no-fund --loglevel=error)
    fi
}

# The web UI (ui/ -> headwater/ui/dist, not committed): dependencies from the lock file, rebuilt
# when the lock file or any of its sources is newer than the last build.
build_ui() {
    if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules ]; then
        (cd ui && npm ci --no-audit --no-fund --loglevel=error)
        touch ui/node_modules
    fi
    local built=headwater/ui/dist/index.html
    if [ ! -f "$built" ] || [ -n "$(find ui -path ui/node_modules -prune -o -type f -newer "$built" -print -quit)" ]; then
        (cd ui && npm run build --silent)
    fi
}

# Debian's chromium for the UI tests: Playwright drives it and never downloads a browser.
ensure_chromium() {
    if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq && apt-get install -y -qq chromium >/dev/null || true
    fi
}

case "${1:-}" in
    run)
        setup
        shift
        exec "$VENV/bin/headwater" serve "$@"
        ;;
    test)
        setup
        ensure_chromium
        shift
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        "$VENV/bin/mypy"
        exec "$VENV/bin/pytest" "$@"
        ;;
    *)
        echo "usage: ./dev.sh run|test [args...]" >&2
        exit 2
        ;;
esac
