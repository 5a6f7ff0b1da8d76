"""Run the official FOCUS validator (PyPI ``focus-validator``) and read its results.

The validator lives in its own virtualenv (``.venv-focus-validator``, Python >= 3.12), set up
by ``scripts/focus-validator.sh`` (idempotent). :func:`run_validator` validates many Parquet
files in one validator process (loading the validator costs seconds, a fixture milliseconds)
and returns, per file, every rule's status parsed from the JUnit XML the validator writes
(``<testcase name="RuleId :: Check">`` with ``<failure>``/``<skipped>``/``<error>``), enriched
with the violation count and sample values of the side JSON written by the batch driver.

``docs/conformance.md`` lists the rules allowed to fail (:func:`load_conformance_doc`): a
Markdown table ``| rule | formats | reason |`` where formats is ``all`` or rules ids.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cloudops.focus.validate import OfficialResult, load_model, parse_junit

__all__ = [
    "CONFORMANCE_DOC",
    "ROOT",
    "SCRIPT",
    "DocEntry",
    "OfficialResult",
    "ValidatorUnavailable",
    "ensure_validator",
    "explain_failures",
    "load_conformance_doc",
    "parse_junit",
    "run_validator",
]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "focus-validator.sh"
CONFORMANCE_DOC = ROOT / "docs" / "conformance.md"


class ValidatorUnavailable(RuntimeError):
    """The official validator cannot run here (no Python >= 3.12, or it could not be installed)."""


def ensure_validator(timeout: float = 600) -> Path:
    """Create the validator's virtualenv if needed; its ``focus-validator`` path.

    Raises ValidatorUnavailable with the script's message when no Python >= 3.12 exists
    (exit 3) or the install fails (exit 4, e.g. offline without a wheel cache).
    """
    proc = subprocess.run(
        ["bash", str(SCRIPT), "--setup-only"], capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode in (3, 4):
        raise ValidatorUnavailable(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "unavailable")
    if proc.returncode != 0:
        raise RuntimeError(f"{SCRIPT} --setup-only failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def run_validator(files: list[Path], out_dir: Path, timeout: float = 600) -> dict[Path, dict[str, OfficialResult]]:
    """Validate every file (FOCUS 1.2, ALL applicability criteria) in one validator process.

    Returns file -> rule id -> result. Raises RuntimeError if the validator crashes on a file.
    """
    ensure_validator()
    proc = subprocess.run(
        ["bash", str(SCRIPT), str(out_dir), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"focus-validator failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out: dict[Path, dict[str, OfficialResult]] = {}
    for f in files:
        stem = f.name.rsplit(".", 1)[0]
        results = parse_junit((out_dir / f"{stem}.xml").read_text(encoding="utf-8"))
        side = out_dir / f"{stem}.json"
        if side.is_file():
            details = json.loads(side.read_text(encoding="utf-8"))["rules"]
            for rid, r in results.items():
                d = details.get(rid, {})
                results[rid] = OfficialResult(
                    r.rule_id,
                    r.check,
                    r.status,
                    d.get("message") or r.message,
                    d.get("violations"),
                    d.get("failure_cases") or "",
                )
        out[f] = results
    return out


@dataclass(frozen=True)
class DocEntry:
    rule_id: str
    formats: frozenset[str]  # {"all"} or rules ids
    reason: str

    def covers(self, fmt: str) -> bool:
        return "all" in self.formats or fmt in self.formats


_ROW = re.compile(r"^\|\s*`?([A-Za-z]+-[CD]-\d{3}-[A-Z])`?\s*\|([^|]*)\|(.*)\|\s*$")


def load_conformance_doc(path: Path = CONFORMANCE_DOC) -> dict[str, DocEntry]:
    """Rule id -> entry, from the table rows of docs/conformance.md."""
    out: dict[str, DocEntry] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _ROW.match(line.strip())
        if m:
            formats = frozenset(f.strip(" `") for f in m.group(2).split(",") if f.strip(" `"))
            out[m.group(1)] = DocEntry(m.group(1), formats or frozenset({"all"}), m.group(3).strip())
    return out


def explain_failures(
    results: dict[str, OfficialResult], fmt: str, doc: dict[str, DocEntry]
) -> tuple[list[OfficialResult], list[OfficialResult]]:
    """Split failed/errored rules into (explained, unexplained) for one file of format ``fmt``.

    A rule is explained when docs/conformance.md lists it for ``fmt`` (or ``all``). A composite
    rule (``:: Composite``) is explained when every failed rule it is made of (per the
    requirements model) is explained: it fails only because they do.
    """
    failed = {rid: r for rid, r in results.items() if r.status in ("failed", "errored")}
    memo: dict[str, bool] = {}

    def ok(rid: str, depth: int = 0) -> bool:
        if rid in memo:
            return memo[rid]
        entry = doc.get(rid)
        if entry is not None and entry.covers(fmt):
            memo[rid] = True
        elif rid in failed and failed[rid].check == "Composite" and depth < 50:
            children = [c for c in _children_of(rid) if c in failed]
            memo[rid] = bool(children) and all(ok(c, depth + 1) for c in children)
        else:
            memo[rid] = rid not in failed
        return memo[rid]

    explained = [r for rid, r in sorted(failed.items()) if ok(rid)]
    # A composite with failing parts is reported through those parts only.
    unexplained = [
        r
        for rid, r in sorted(failed.items())
        if not ok(rid) and not (r.check == "Composite" and any(c in failed for c in _children_of(rid)))
    ]
    return explained, unexplained


def _children_of(rule_id: str) -> list[str]:
    rule = load_model()["ModelRules"].get(rule_id)
    if rule is None:
        return []
    return re.findall(r'"ModelRuleId": "([^"]+)"', json.dumps(rule["ValidationCriteria"].get("Requirement")))
