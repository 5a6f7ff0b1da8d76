#!/usr/bin/env bash
# Run the FinOps Foundation's official FOCUS validator (PyPI `focus-validator`) on FOCUS Parquet files.
#
#   scripts/focus-validator.sh --setup-only              # create/refresh the validator's virtualenv, then exit
#   scripts/focus-validator.sh OUT_DIR FILE.parquet...   # validate each file against FOCUS 1.2, ALL applicability
#
# For every FILE the JUnit XML report is written to OUT_DIR/<file stem>.xml. The validator
# itself exits 0 whatever fails: read the XML (tests/support/focus_validator.py parses it).
#
# Setup is idempotent: the virtualenv `.venv-focus-validator` (override with FOCUS_VALIDATOR_VENV)
# is created once with Python >= 3.12 (FOCUS_VALIDATOR_PYTHON, else python3.12/python3.13 on PATH,
# else a pyenv 3.12+/3.13+ build). focus-validator 2.2.1 needs Python >= 3.12 and pins numpy < 2,
# so pyarrow is pinned to 21.0.0 there. The validator opens `focus_validator/rules/currency_codes.csv`
# relative to its working directory, so it runs from `focus-validator-work/`, which holds a copy.
# Offline, only FOCUS 1.2 works (`--block-download` uses the model bundled in the package).
#
# Exit codes: 0 ok; 2 usage; 3 no Python >= 3.12 (nothing installed); 4 install failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${FOCUS_VALIDATOR_VENV:-$ROOT/.venv-focus-validator}"
WORK="${FOCUS_VALIDATOR_WORK:-$ROOT/focus-validator-work}"
VALIDATOR_VERSION="2.2.1"
PYARROW_VERSION="21.0.0"
STAMP="$VENV/.installed-focus-validator-$VALIDATOR_VERSION-pyarrow-$PYARROW_VERSION"

find_python() {
  local cand
  for cand in "${FOCUS_VALIDATOR_PYTHON:-}" python3.12 python3.13 python3.14 \
    "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 &&
      "$cand" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$cand"
      return 0
    fi
  done
  return 1
}

setup() {
  if [ -f "$STAMP" ] && [ -x "$VENV/bin/focus-validator" ] && [ -f "$WORK/focus_validator/rules/currency_codes.csv" ]; then
    return 0
  fi
  if [ ! -x "$VENV/bin/python" ]; then
    local py
    if ! py="$(find_python)"; then
      echo "focus-validator needs Python >= 3.12 and none was found (tried FOCUS_VALIDATOR_PYTHON, python3.12," \
        "python3.13, pyenv 3.12+). Install one (e.g. 'pyenv install 3.12') or set FOCUS_VALIDATOR_PYTHON." >&2
      exit 3
    fi
    echo "creating $VENV with $py ..." >&2
    "$py" -m venv "$VENV"
  fi
  echo "installing focus-validator==$VALIDATOR_VERSION (pyarrow==$PYARROW_VERSION) into $VENV ..." >&2
  if ! "$VENV/bin/python" -m pip install --quiet --progress-bar off \
    "focus-validator==$VALIDATOR_VERSION" "pyarrow==$PYARROW_VERSION" >&2; then
    echo "installing focus-validator failed (see pip's message above)" >&2
    exit 4
  fi
  local rules
  rules="$("$VENV/bin/python" -c 'import focus_validator, os; print(os.path.join(os.path.dirname(focus_validator.__file__), "rules"))')"
  mkdir -p "$WORK/focus_validator/rules"
  cp "$rules/currency_codes.csv" "$WORK/focus_validator/rules/currency_codes.csv"
  touch "$STAMP"
}

if [ "${1:-}" = "--setup-only" ]; then
  setup
  echo "$VENV/bin/focus-validator"
  exit 0
fi
if [ "$#" -lt 2 ]; then
  sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
OUT="$1"
shift
setup
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
ABS=()
for f in "$@"; do
  [ -f "$f" ] || { echo "no such file: $f" >&2; exit 2; }
  ABS+=("$(cd "$(dirname "$f")" && pwd)/$(basename "$f")")
done
# One Python process validates every file (files validated in parallel).
cd "$WORK"
exec "$VENV/bin/python" - "$OUT" "${ABS[@]}" <<'PY'
"""Batch driver: for each Parquet file write <stem>.xml (the validator's JUnit report, exactly as
`focus-validator --output-type unittest` writes it) and <stem>.json (per rule: status, violations,
message, a few failing values), then print the XML path. Validation errors are reported per file."""
import json
import logging
import multiprocessing
import os
import sys
import traceback

logging.disable(logging.CRITICAL)
from focus_validator.validator import Validator  # noqa: E402

out_dir, files = sys.argv[1], sys.argv[2:]


def validate(path):
    """Validate one file; write <stem>.xml and <stem>.json (or <stem>.error); the XML path or None."""
    logging.disable(logging.CRITICAL)
    stem = os.path.splitext(os.path.basename(path))[0]
    xml_path = os.path.join(out_dir, stem + ".xml")
    try:
        validator = Validator(
            data_filename=path,
            output_destination=xml_path,
            output_type="unittest",
            rules_version="1.2",
            rules_block_remote_download=True,
            applicability_criteria="ALL",
            focus_dataset="CostAndUsage",
            show_violations=True,
        )
        results = validator.validate()
    except Exception:  # one bad file must not hide the others' reports
        with open(os.path.join(out_dir, stem + ".error"), "w", encoding="utf-8") as fh:
            fh.write(traceback.format_exc())
        return None
    summary = {}
    for rule_id, entry in results.by_rule_id.items():
        details = entry.get("details", {}) or {}
        if details.get("skipped"):
            state = "skipped"
        elif entry.get("ok"):
            state = "passed"
        elif details.get("error") or details.get("missing_columns"):
            state = "errored"
        else:
            state = "failed"
        summary[rule_id] = {
            "status": state,
            "violations": details.get("violations"),
            "message": str(details.get("message") or details.get("reason") or details.get("error") or ""),
            "check_type": str(details.get("check_type") or ""),
            "failure_cases": "" if details.get("failure_cases") is None else str(details["failure_cases"])[:600],
        }
    with open(os.path.join(out_dir, stem + ".json"), "w", encoding="utf-8") as fh:
        json.dump({"file": path, "rows": results.data_row_count, "rules": summary}, fh, indent=1, default=str)
    return xml_path


# The validator spends seconds of CPU per file whatever its size: spread files over the cores.
workers = max(1, min(len(files), os.cpu_count() or 1, int(os.environ.get("FOCUS_VALIDATOR_JOBS", "8"))))
if workers == 1:
    outcomes = [validate(f) for f in files]
else:
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        outcomes = pool.map(validate, files, chunksize=1)
status = 0
for path, xml_path in zip(files, outcomes):
    if xml_path is None:
        stem = os.path.splitext(os.path.basename(path))[0]
        print(f"focus-validator failed on {path}: see {os.path.join(out_dir, stem + '.error')}", file=sys.stderr)
        status = 1
    else:
        print(xml_path)
sys.exit(status)
PY
