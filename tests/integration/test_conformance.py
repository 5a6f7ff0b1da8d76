"""Conformance: every golden fixture's FOCUS output passes the official FOCUS 1.2 validator.

Each ``tests/fixtures/**/<name>.expected.json`` fixture is converted to FOCUS Parquet exactly
as ``cloudops convert`` writes it, then all the files are validated in one run of the
FinOps Foundation's validator (``focus-validator`` 2.2.1, ``--applicability-criteria ALL``,
through ``scripts/focus-validator.sh``). Every rule that fails must be listed in
``docs/conformance.md`` for the fixture's format (or ``all``) with the reason it cannot apply;
a composite rule that fails only because listed parts fail is explained by them. Listed rules
that pass on every fixture are printed as a warning (the entry may be stale).

Skipped, with the reason, where the validator cannot run (no Python >= 3.12, no package).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from tests.support.focus_validator import (
    CONFORMANCE_DOC,
    OfficialResult,
    ValidatorUnavailable,
    ensure_validator,
    explain_failures,
    load_conformance_doc,
    run_validator,
)

from cloudops.focus.columns import focus_arrow_schema
from cloudops.focus.validate import load_model
from cloudops.sinks.parquet import FocusParquetWriter
from cloudops.sources.converter import open_conversion

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures"
FOCUS_12 = pa.schema([f.with_nullable(True) for f in focus_arrow_schema(version="1.2")])
EXPECTED = sorted(FIXTURES.rglob("*.expected.json"))


def _data_file(expected: Path) -> Path:
    stem = expected.name.removesuffix(".expected.json")
    found = [
        p for p in expected.parent.iterdir() if p.name.startswith(stem + ".") and not p.name.endswith(".expected.json")
    ]
    assert len(found) == 1, f"{expected}: expected exactly one data file named {stem}.*, found {found}"
    return found[0]


@dataclass
class Validated:
    fixture: str
    format: str
    parquet: Path
    results: dict[str, OfficialResult]


@pytest.fixture(scope="module")
def validated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Validated]:
    try:
        ensure_validator()
    except ValidatorUnavailable as exc:
        pytest.skip(f"official FOCUS validator unavailable: {exc}")
    work = tmp_path_factory.mktemp("conformance")
    converted: dict[str, Validated] = {}
    for expected in EXPECTED:
        data = _data_file(expected)
        name = str(expected.relative_to(FIXTURES)).removesuffix(".expected.json")
        out = work / (name.replace("/", "__") + ".parquet")
        conv = open_conversion(data, source=str(data), file_id="conformance", block_size=1 << 20)
        if conv.rules.dataset != "CostAndUsage":
            continue  # supporting datasets (FOCUS 1.3+): the validator has no offline model for them
        # The validator knows FOCUS 1.2 offline: write what `cloudops convert --focus-version 1.2` writes.
        with FocusParquetWriter(out, FOCUS_12) as writer:
            for result, _malformed in conv.chunks():
                if result is not None:
                    writer.write(result.batch)
        converted[name] = Validated(name, conv.rules.id, out, {})
    results = run_validator([v.parquet for v in converted.values()], work / "reports")
    for v in converted.values():
        v.results = results[v.parquet]
    return converted


def test_conformance_doc_lists_real_rules() -> None:
    doc = load_conformance_doc()
    assert doc, f"{CONFORMANCE_DOC} has no rule table"
    unknown = sorted(set(doc) - set(load_model()["ModelRules"]))
    assert not unknown, f"{CONFORMANCE_DOC} lists rules not in the FOCUS 1.2 model: {unknown}"


@pytest.mark.parametrize("fixture", [str(e.relative_to(FIXTURES)).removesuffix(".expected.json") for e in EXPECTED])
def test_fixture_output_conforms(fixture: str, validated: dict[str, Validated]) -> None:
    if fixture not in validated:
        pytest.skip("a supporting FOCUS dataset (1.3+): focus-validator 2.2.1 has no offline model for it")
    v = validated[fixture]
    assert v.results, f"{fixture}: the validator reported no rules"
    _, unexplained = explain_failures(v.results, v.format, load_conformance_doc())
    lines = [
        f"  {r.rule_id} ({r.check}): {r.message} [violations={r.violations}] {r.samples.splitlines()[1:3]}"
        for r in unexplained
    ]
    assert not unexplained, (
        f"{fixture} (format {v.format}): rules fail that docs/conformance.md does not explain. Fix the output, "
        f"or add a row `| RuleId | {v.format} | why it cannot apply |` to docs/conformance.md:\n" + "\n".join(lines)
    )


def test_listed_rules_still_fail_somewhere(validated: dict[str, Validated], capsys: pytest.CaptureFixture[str]) -> None:
    """Not an assertion: entries that pass on every fixture are reported as possibly stale."""
    doc = load_conformance_doc()
    failing = {rid for v in validated.values() for rid, r in v.results.items() if r.status in ("failed", "errored")}
    stale = sorted(set(doc) - failing)
    if stale:
        with capsys.disabled():
            print(f"\nwarning: docs/conformance.md lists rules that pass on every fixture now: {', '.join(stale)}")
