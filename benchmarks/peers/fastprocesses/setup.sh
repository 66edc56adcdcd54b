#!/usr/bin/env bash
# Creates benchmarks/peers/fastprocesses/.venv: Python 3.12 with fastprocesses 0.24.1 and
# celery[redis]. Idempotent: does nothing when the virtualenv already holds these
# requirements. Python 3.12 is taken from $FASTPROCESSES_PYTHON, else pyenv, else PATH.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
# uvloop and httptools: what `uvicorn[standard]` would add; fastproc's API runs on them too,
# so the HTTP layer is the same on both sides.
REQUIREMENTS=("fastprocesses==0.24.1" "celery[redis]" "uvloop" "httptools")
STAMP="$VENV/.requirements"

find_python() {
    if [[ -n "${FASTPROCESSES_PYTHON:-}" ]]; then
        echo "$FASTPROCESSES_PYTHON"; return
    fi
    local root="${PYENV_ROOT:-$HOME/.pyenv}" candidate
    if [[ -d "$root/versions" ]]; then
        candidate="$(ls -d "$root"/versions/3.12.* 2>/dev/null | sort -V | tail -n 1 || true)"
        if [[ -n "$candidate" && -x "$candidate/bin/python3.12" ]]; then
            echo "$candidate/bin/python3.12"; return
        fi
    fi
    if command -v python3.12 >/dev/null 2>&1; then
        command -v python3.12; return
    fi
    echo "setup.sh: no Python 3.12 found (set FASTPROCESSES_PYTHON or install it with pyenv)" >&2
    exit 1
}

if [[ -x "$VENV/bin/python" && -f "$STAMP" ]] \
        && [[ "$(cat "$STAMP")" == "${REQUIREMENTS[*]}" ]] \
        && "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null \
        && "$VENV/bin/python" -c 'import fastprocesses, celery, redis' 2>/dev/null; then
    echo "fastprocesses peer: $VENV is ready"
    exit 0
fi

PYTHON="$(find_python)"
echo "fastprocesses peer: creating $VENV with $("$PYTHON" --version 2>&1)"
"$PYTHON" -m venv --clear "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}"
echo "${REQUIREMENTS[*]}" > "$STAMP"
"$VENV/bin/python" -m pip show fastprocesses celery | grep -E '^(Name|Version):'
echo "fastprocesses peer: $VENV is ready"
