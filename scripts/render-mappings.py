#!/usr/bin/env python3
"""Write docs/mappings.md from the conversion rules files (run after changing any rules file).

.venv/bin/python scripts/render-mappings.py          # rewrite docs/mappings.md
.venv/bin/python scripts/render-mappings.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from cloudops.focus.docs import render_mappings
from cloudops.focus.rules import load_all_rules

OUT = Path(__file__).resolve().parents[1] / "docs" / "mappings.md"


def main() -> int:
    text = render_mappings(load_all_rules())
    if "--check" in sys.argv[1:]:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is out of date: run .venv/bin/python scripts/render-mappings.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
