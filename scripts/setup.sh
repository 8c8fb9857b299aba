#!/usr/bin/env bash
# Set up everything vsearch needs on a fresh Debian/Ubuntu machine: ffmpeg, a venv, the package.
# Idempotent: a second run only checks. Usage: scripts/setup.sh  (VENV=path to choose the venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"

if ! command -v ffmpeg >/dev/null || ! command -v ffprobe >/dev/null; then
    echo "setup: installing ffmpeg" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg >/dev/null
fi

# The browser test of `vsearch serve` drives Debian's chromium through chromedriver.
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "setup: installing chromium and chromium-driver (browser test of vsearch serve)" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# The tests run the DB-facing cases on a throwaway PostgreSQL server too (tests/postgres_server.py).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null; then
    echo "setup: installing postgresql (server binaries for the tests)" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV" >&2
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.vsearch-setup"
want="$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "setup: installing torch and vsearch into $VENV (a few minutes the first time)" >&2
    "$PY" -m pip install -q --upgrade pip
    # Pinned torch pair: a CUDA build that also runs on the CPU.
    "$PY" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
    "$PY" -m pip install -q -e ".[dev,cpu,serve,postgres,ray]"
    echo "$want" > "$stamp"
fi
"$PY" -c "import vsearch" >/dev/null
echo "setup: ready ($("$PY" --version), $(ffmpeg -version | head -1 | cut -d' ' -f1-3))" >&2
