#!/usr/bin/env bash
# Create the virtualenv and install cloudops (editable) with its dev extras.
set -euo pipefail
PYTHON="${1:-python3}"
VENV="${2:-.venv}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "cloudops needs Python >= 3.11 (found: $("$PYTHON" --version 2>&1 || echo none))." >&2
  exit 1
fi
if ! "$PYTHON" -m venv --help >/dev/null 2>&1 || ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing python3-venv ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "Python's venv module is missing: sudo apt-get install python3-venv" >&2
    exit 1
  fi
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating virtualenv $VENV ..."
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
echo "installing cloudops and its dependencies (first run takes a few minutes) ..."
"$VENV/bin/python" -m pip install --quiet --progress-bar off -e '.[dev]'
