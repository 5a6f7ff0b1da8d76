"""``cloudops dlq list|show|replay``: dead letters, thin over :mod:`cloudops.service.dlq`.

Without ``--tenant`` the operator sees every tenant's dead letters; with it, one tenant's.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import json
import sys
from typing import Annotated

import typer
from rich.table import Table

from cloudops.commands._common import OutputFormat, caller, console, err, operator
from cloudops.errors import CloudopsError
from cloudops.service import Caller
from cloudops.service import dlq as svc

__all__ = ["dlq_app"]

dlq_app = typer.Typer(help="Dead-letter queues: list, show and replay what failed.", no_args_is_help=True)

_TenantFilter = Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant's dead letters.")]


def _who(tenant: str | None) -> Caller:
    return caller(tenant) if tenant else operator()


@dlq_app.command("list")
def dlq_list(
    topic: Annotated[str | None, typer.Option(help="One DLQ (e.g. billing-files.dlq); default: every DLQ.")] = None,
    kind: Annotated[str | None, typer.Option(help="Only bad_data, transient or bug.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many (newest last).")] = 50,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, csv or json.")] = OutputFormat.table,
    tenant: _TenantFilter = None,
) -> None:
    """Dead letters: where they came from, when, why, and whether they can be replayed."""
    records = asyncio.run(svc.list_dead_letters(_who(tenant), topic=topic, kind=kind))[-limit:]
    rows = [
        {
            "position": r.position,
            "failed_at": r.letter.failed_at.isoformat(timespec="seconds"),
            "kind": r.letter.error_kind,
            "attempts": r.letter.attempts,
            "tenant": r.letter.tenant or "",
            "file": r.letter.file_url or "",
            "row": "" if r.letter.rejected_row is None else r.letter.rejected_row.row_number,
            "replayable": r.replayable,
            "reason": r.letter.reason,
        }
        for r in records
    ]
    if fmt is OutputFormat.json:
        print(json.dumps(rows, indent=2))
        return
    if fmt is OutputFormat.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["position"])
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(
        "position", "failed at", "kind", "tries", "tenant", "file", "row", "replay", "reason", title="dead letters"
    )
    for row in rows:
        table.add_row(
            str(row["position"]),
            str(row["failed_at"]),
            str(row["kind"]),
            str(row["attempts"]),
            str(row["tenant"]),
            str(row["file"]),
            str(row["row"]),
            "yes" if row["replayable"] else "no",
            str(row["reason"]),
        )
    console.print(table)
    console.print(f"{len(rows)} dead letter(s)")


@dlq_app.command("show")
def dlq_show(
    position: Annotated[str, typer.Argument(help="topic:partition:offset, as `cloudops dlq list` prints it.")],
    tenant: _TenantFilter = None,
) -> None:
    """One dead letter in full, with its original value decoded when it is text."""
    record = asyncio.run(svc.find_dead_letter(_who(tenant), position))
    doc = record.letter.model_dump(mode="json")
    if record.letter.value_b64:
        raw = base64.b64decode(record.letter.value_b64)
        try:
            doc["value"] = json.loads(raw)
        except ValueError:
            doc["value"] = f"<{len(raw)} bytes, binary>"
    print(json.dumps({"position": record.position, **doc}, indent=2))


@dlq_app.command("replay")
def dlq_replay(
    positions: Annotated[list[str] | None, typer.Argument(help="topic:partition:offset of each dead letter.")] = None,
    topic: Annotated[str | None, typer.Option(help="Replay every replayable dead letter of this DLQ.")] = None,
    kind: Annotated[str | None, typer.Option(help="With --topic: only bad_data, transient or bug.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be replayed.")] = False,
    tenant: _TenantFilter = None,
) -> None:
    """Send dead letters back to their source topic, byte for byte (after the cause is fixed)."""
    who = _who(tenant)

    async def chosen_records() -> list[svc.DeadLetterRecord]:
        if positions:
            return [await svc.find_dead_letter(who, p) for p in positions]
        if topic:
            return await svc.list_dead_letters(who, topic=topic, kind=kind)
        raise CloudopsError("name dead letters (topic:partition:offset) or a DLQ with --topic")

    chosen = asyncio.run(chosen_records())
    skipped = [r for r in chosen if not r.replayable]
    for r in skipped:
        err.print(f"skip {r.position}: a rejected row or a record without its original value cannot be replayed")
    if dry_run:
        for r in chosen:
            if r.replayable:
                console.print(f"would replay {r.position} -> {r.letter.source_topic} ({r.letter.file_url or ''})")
        return
    sent = asyncio.run(svc.replay_dead_letters(who, chosen))
    for r in sent:
        console.print(f"replayed {r.position} -> {r.letter.source_topic} ({r.letter.file_url or ''})")
    console.print(f"{len(sent)} replayed, {len(skipped)} skipped")
