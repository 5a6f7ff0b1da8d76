"""Pull-request text: golden bodies per recommender kind, rendered through CommonMark; escaping; helpers.

Each AWS kind runs the real recommender on constructed bill rows, then ``plan_change`` on the
shipped sample repository (real Terraform fmt/validate); Azure and GCP kinds (no sample
configuration) render with a small diff. The bodies are compared with the golden files in
``golden/`` (regenerate with ``CLOUDOPS_UPDATE_GOLDEN=1`` and review the diff) and parsed with
markdown-it-py (CommonMark + GFM tables): no literal backslash in rendered text, every table
row as wide as its header, no HTML but the few tags we write, and the reviewer's questions
(how much, from which rows and prices, how sure, what could break, how to undo) all answered.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from tests.unit.recommend.helpers import NOV, OCT, SEP, row

from cloudops.recommend import RecommendContext
from cloudops.recommend.aws import (
    cloudwatch_logs_retention,
    ebs_gp2_to_gp3,
    ebs_io1_to_io2,
    ec2_previous_generation,
    rds_previous_generation,
)
from cloudops.recommend.azure import managed_disk_tier
from cloudops.recommend.gcp import pd_ssd_to_balanced
from cloudops.schemas.recommendations import Evidence, Recommendation
from cloudops.terraform.outcome import NotAddressable
from cloudops.terraform.propose import ProposedChange, plan_change, plan_group
from cloudops.terraform.render import (
    EditNote,
    branch_name,
    find_fingerprint,
    format_money,
    render_digest,
    render_pull_request,
)

from .conftest import RecFactory

GOLDEN = Path(__file__).with_name("golden")
UPDATE = os.environ.get("CLOUDOPS_UPDATE_GOLDEN") == "1"
FOUND_AT = datetime(2023, 12, 2, 6, 0, tzinfo=UTC)
QUERY = json.dumps(
    {
        "metrics": ["ConsumedQuantity", "PricingQuantity", "EffectiveCost", "ListCost", "BilledCost"],
        "group_by": ["x_Provider", "ResourceId", "RegionId", "ext:x_UsageType", "PricingUnit", "BillingCurrency"],
        "filters": [{"dimension": "ChargeCategory", "op": "in", "values": ["Usage", "Purchase"]}],
        "start": "2023-09-01T00:00:00Z",
        "end": "2023-12-01T00:00:00Z",
        "granularity": "month",
    }
)
CTX = RecommendContext(tenant="acme", period="2023-11", query=QUERY, found_at=FOUND_AT)
RDS = "arn:aws:rds:us-east-1:123456789012:db:orders-db"
LOGS = "arn:aws:logs:us-east-1:123456789012:log-group:/app/web"
DISK = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Compute/disks/data-1"
PD = "//compute.googleapis.com/projects/acme/zones/us-central1-a/disks/data-1"


def _one(recs: list[Recommendation]) -> Recommendation:
    assert len(recs) == 1, recs
    return recs[0]


def _aws_recs() -> dict[str, Recommendation]:
    gb = {"pricing_unit": "GB-Mo", "consumed_unit": "GB-Mo"}
    logs = {"service_name": "AmazonCloudWatch", "product_code": "AmazonCloudWatch", **gb}
    rds = {"service_name": "Amazon Relational Database Service", "product_code": "AmazonRDS"}
    return {
        "aws-ebs-gp2-to-gp3": _one(
            ebs_gp2_to_gp3([row("vol-0a1b2c3d4e5f60001", "EBS:VolumeUsage.gp2", 500, "50.00", **gb)], CTX)
        ),
        "aws-ebs-io1-to-io2": _one(
            ebs_io1_to_io2(
                [
                    row("vol-0a1b2c3d4e5f60002", "EBS:VolumeUsage.piops", 200, "25.00", **gb),
                    row("vol-0a1b2c3d4e5f60002", "EBS:VolumeP-IOPS.piops", 40_000, "2600.00", pricing_unit="IOPS-Mo"),
                ],
                CTX,
            )
        ),
        "aws-ec2-previous-generation": _one(
            ec2_previous_generation(
                [row("i-0a1b2c3d4e5f60011", "BoxUsage:m4.large", 720, "72.00", operation="RunInstances")], CTX
            )
        ),
        "aws-rds-previous-generation": _one(
            rds_previous_generation(
                [row(RDS, "InstanceUsage:db.m4.large", 720, "126.00", operation="CreateDBInstance:0014", **rds)], CTX
            )
        ),
        "aws-cloudwatch-logs-retention": _one(
            cloudwatch_logs_retention(
                [
                    row(LOGS, "TimedStorage-ByteHrs", 200, "6.00", month=SEP, **logs),
                    row(LOGS, "TimedStorage-ByteHrs", 300, "9.00", month=OCT, **logs),
                    row(LOGS, "TimedStorage-ByteHrs", 400, "12.00", month=NOV, **logs),
                ],
                CTX,
            )
        ),
    }


def _other_recs() -> dict[str, Recommendation]:
    azure = {"provider": "azure", "region_id": "eastus", "service_name": "Storage", "product_code": ""}
    gcp = {"provider": "gcp", "region_id": "europe-west1", "service_name": "Compute Engine", "product_code": ""}
    return {
        "azure-managed-disk-tier": _one(managed_disk_tier([row(DISK, "P10 LRS Disk", 1, "19.71", **azure)], CTX)),
        "gcp-pd-ssd-to-balanced": _one(
            pd_ssd_to_balanced([row(PD, "SSD backed PD Capacity", 500, "85.00", **gcp)], CTX)
        ),
    }


AWS_KINDS = sorted(_aws_recs())
OTHER_KINDS = sorted(_other_recs())


def _planned(sample_repo: Path, state: dict[str, Any], rec: Recommendation) -> ProposedChange:
    result = plan_change(sample_repo, state, rec)
    assert isinstance(result, ProposedChange), result
    return result


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"no golden file {name}: run with CLOUDOPS_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs: CLOUDOPS_UPDATE_GOLDEN=1 and review"


_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_ALLOWED_HTML = re.compile(r"^(</?details>|<summary>.*</summary>|</?sub>|<!-- cloudops:fingerprint=[0-9a-f]+ -->)")


def _assert_wellformed(body: str) -> str:
    """Parse ``body`` as CommonMark + GFM tables; return the rendered plain text (code excluded)."""
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(body)
    lines = body.splitlines()
    texts: list[str] = []
    for tok in tokens:
        if tok.type == "table_open":
            assert tok.map is not None
            table = lines[tok.map[0] : tok.map[1]]
            widths = {len(_UNESCAPED_PIPE.split(ln.strip())) for ln in table}
            assert len(widths) == 1, "ragged table:\n" + "\n".join(table)
        if tok.type in ("html_block", "html_inline"):
            for piece in filter(None, (p.strip() for p in tok.content.splitlines())):
                assert _ALLOWED_HTML.match(piece), piece
        for child in tok.children or []:
            if child.type == "html_inline":
                assert _ALLOWED_HTML.match(child.content), child.content
            if child.type == "text":
                texts.append(child.content)
    text = "\n".join(texts)
    assert "\\" not in text, [t for t in texts if "\\" in t]
    html = md.render(body)
    assert "<table>" in html
    return text


def _assert_answers(body: str, rec: Recommendation) -> None:
    """The reviewer's questions: how much, from which rows and prices, how sure, what could break, how to undo."""
    for heading in ("How much", "How sure", "What changes", "Evidence", "What could break", "Rollout", "Rollback"):
        assert f"\n### {heading}\n" in body
    assert "### Terraform plan\n\nNot run:" in body
    assert f"**{format_money(rec.monthly_savings)} {rec.currency} per month**" in body
    for price in rec.prices:
        assert f"<{price.source}>" in body
        assert price.as_of in body
    assert "| ConsumedQuantity |" in body
    assert "| EffectiveCost | ListCost | BilledCost |" in body
    assert rec.evidence.command
    assert rec.evidence.command in body
    assert "ResourceId" in rec.evidence.command
    for reason in rec.confidence_reasons:
        assert reason.split(":")[0].split("(")[0][:40] in body
    assert rec.risk_basis


@pytest.mark.parametrize("kind", AWS_KINDS)
def test_golden_body_of_each_aws_kind(sample_repo: Path, state: dict[str, Any], kind: str) -> None:
    rec = _aws_recs()[kind]
    planned = _planned(sample_repo, state, rec)
    _golden(f"{kind}.md", planned.body)
    text = _assert_wellformed(planned.body)
    _assert_answers(planned.body, rec)
    assert "escaped" not in text
    assert planned.labels == ("cloudops", "finops", kind, f"risk:{rec.risk}", f"confidence:{rec.confidence}")


@pytest.mark.parametrize("kind", OTHER_KINDS)
def test_golden_body_of_azure_and_gcp_kinds(kind: str) -> None:
    rec = _other_recs()[kind]
    change = rec.changes[0]
    diff = (
        "--- a/disks.tf\n+++ b/disks.tf\n@@ -3,1 +3,1 @@\n"
        f'-  {change.attribute} = "{change.current}"\n+  {change.attribute} = "{change.proposed}"\n'
    )
    address = f"{rec.resource_type}.data"
    text = render_pull_request(
        rec,
        address=address,
        diff=diff,
        edits=[EditNote(f'{address}: {change.attribute} "{change.current}" -> "{change.proposed}"')],
        plan_note="Not run: no providers here.",
    )
    _golden(f"{kind}.md", text.body)
    _assert_wellformed(text.body)
    _assert_answers(text.body, rec)


def test_gp3_body_prices_the_throughput_and_drops_the_stale_comment(sample_repo: Path, state: dict[str, Any]) -> None:
    rec = _aws_recs()["aws-ebs-gp2-to-gp3"]
    body = _planned(sample_repo, state, rec).body
    assert "| proposed | gp3 throughput above 125 MiB/s | 0.04 USD/MiBps-Mo | 125 MiBps-Mo | 5.00 USD |" in body
    assert "50.00 USD (your EffectiveCost of this usage in 2023-11) x (1 - 45.00 / 50.00) = 5.00 USD a month" in body
    assert '+  type              = "gp3"\n' in body  # no stale comment on the edited line
    assert "The comment `# previous-generation general purpose` on that line described the old value" in body
    assert "1 other line of the diff changes only in blanks" in body
    assert 'to restore `type = "gp2"` and remove `throughput`.' in body  # quoted HCL in the rollback


def test_log_retention_says_it_is_irreversible(sample_repo: Path, state: dict[str, Any]) -> None:
    rec = _aws_recs()["aws-cloudwatch-logs-retention"]
    assert (rec.risk, rec.irreversible) == ("data_loss", True)
    body = _planned(sample_repo, state, rec).body
    assert "| **Risk** | high: deletes data for good |" in body
    assert "| **Reversible** | **no**: see Rollback |" in body
    assert "**This change cannot be fully undone.**" in body
    assert "the log events already deleted do not come back" in body
    assert "aws logs create-export-task" in body


def test_rds_body_reads_apply_immediately(repo_copy: Path, state: dict[str, Any]) -> None:
    rec = _aws_recs()["aws-rds-previous-generation"]
    body = _planned(repo_copy, state, rec).body
    assert "`apply_immediately` is not set (default false) in module.db.aws_db_instance.this" in body
    assert "in the next maintenance window" in body
    module = repo_copy / "modules" / "rds" / "main.tf"
    module.write_text(
        module.read_text().replace(
            "  skip_final_snapshot = true\n", "  skip_final_snapshot = true\n  apply_immediately   = true\n"
        )
    )
    body = _planned(repo_copy, state, rec).body
    assert "`apply_immediately = true` in module.db.aws_db_instance.this" in body
    assert "the restart happens as soon as `terraform apply` runs" in body


def test_region_caveat_when_prices_are_from_another_region() -> None:
    rec = _other_recs()["gcp-pd-ssd-to-balanced"]
    body = render_pull_request(rec, address="google_compute_disk.data", diff="", edits=[]).body
    assert "us-central1 (resource: europe-west1)" in body
    assert "The price table's region is not the resource's (us-central1 prices, resource in europe-west1)" in body


def test_codeowners_become_reviewers(repo_copy: Path, state: dict[str, Any]) -> None:
    (repo_copy / ".github").mkdir()
    (repo_copy / ".github" / "CODEOWNERS").write_text("* @acme/platform\n/main.tf @alice @bob dev@example.com\n")
    planned = _planned(repo_copy, state, _aws_recs()["aws-ec2-previous-generation"])
    assert planned.reviewers == ("alice", "bob")
    assert "| **Owners (CODEOWNERS)** | alice, bob |" in planned.body


def test_bill_text_is_escaped_and_code_spans_of_notes_survive(make_rec: RecFactory) -> None:
    rows = tuple(
        {"ResourceId": "vol-1", "EffectiveCost": str(i), "Tag": "@ops-team | <script>alert(1)</script> `x`"}
        for i in range(30)
    )
    rec = make_rec(
        "vol-1",
        "aws_ebs_volume",
        [("type", "gp2", "gp3", "string")],
        evidence=Evidence(query="not json", rows=rows),
        risk_note="Set `throughput` if needed; <b>never</b> ping @someone.",
    )
    body = render_pull_request(rec, address="aws_ebs_volume.v", diff="", edits=[]).body
    assert "The first 20 of 30 rows of `vol-1`" in body
    assert body.count("| vol-1 | ") == 20
    assert "&#64;ops-team \\| &lt;script&gt;alert(1)&lt;/script&gt; \\`x\\`" in body
    assert "<script>" not in body
    assert "@ops-team" not in body
    assert "@someone" not in body
    assert "Set `throughput` if needed; &lt;b&gt;never&lt;/b&gt;" in body
    assert "```json\nnot json\n```" in body
    text = _assert_wellformed(body)
    assert "`x`" in text  # the bill's backticks render as backticks, not as a code span or backslashes


def test_fences_grow_around_backticks(make_rec: RecFactory) -> None:
    rec = make_rec("vol-1", "aws_ebs_volume", [("type", "gp2", "gp3", "string")])
    diff = '--- a/x.tf\n+++ b/x.tf\n@@ -1 +1 @@\n-a = "```"\n+a = "````"\n'
    body = render_pull_request(rec, address="aws_ebs_volume.v", diff=diff, edits=[]).body
    assert "`````diff\n" + diff + "`````" in body


def test_money_and_branch_helpers(make_rec: RecFactory) -> None:
    assert format_money(Decimal("0.005")) == "0.00"
    assert format_money(Decimal("0.015")) == "0.02"
    assert format_money(Decimal("1234567.891")) == "1,234,567.89"
    rec = make_rec("vol-1", "aws_ebs_volume", [("type", "gp2", "gp3", "string")], kind="AWS EBS: gp2 -> gp3!")
    assert branch_name(rec) == f"cloudops/aws-ebs-gp2-gp3/{rec.fingerprint}"
    assert find_fingerprint("no marker here") is None


# --- refusals: one golden line per reason ------------------------------------------------------------------

Mutator = Callable[[Path, dict[str, Any]], None]


def _edit(rel: str, old: str, new: str) -> Mutator:
    def apply(repo: Path, _state: dict[str, Any]) -> None:
        path = repo / rel
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new, 1))

    return apply


def _write(rel: str, text: str) -> Mutator:
    def apply(repo: Path, _state: dict[str, Any]) -> None:
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)

    return apply


_GP3 = ("vol-0a1b2c3d4e5f60001", "aws_ebs_volume", [("type", "gp2", "gp3", "string")])
_M5 = ("i-0a1b2c3d4e5f60011", "aws_instance", [("instance_type", "m4.large", "m5.large", "string")])
_DB = (RDS, "aws_db_instance", [("instance_class", "db.m4.large", "db.m5.large", "string")])
REFUSALS: dict[str, tuple[tuple[str, str, list[tuple[str, str | None, str, str]]], list[Mutator]]] = {
    "module input feeds a second resource": (
        _DB,
        [
            _edit(
                "modules/rds/main.tf",
                "  skip_final_snapshot = true\n}\n",
                '  skip_final_snapshot = true\n}\n\nresource "aws_db_instance" "replica" {\n'
                "  replicate_source_db = aws_db_instance.this.identifier\n"
                "  instance_class      = var.instance_class\n}\n",
            )
        ],
    ),
    "module input read by an output": (
        _DB,
        [_write("modules/rds/outputs.tf", 'output "class" {\n  value = "${var.instance_class}-main"\n}\n')],
    ),
    "lifecycle ignores the argument": (
        _M5,
        [
            _edit(
                "main.tf", "  EOT\n}\n", "  EOT\n\n  lifecycle {\n    ignore_changes = [instance_type, tags]\n  }\n}\n"
            )
        ],
    ),
    "lifecycle ignores all": (
        _GP3,
        [
            _edit(
                "main.tf",
                '    Team = "storage"\n  }\n',
                '    Team = "storage"\n  }\n\n  lifecycle {\n    ignore_changes = all\n  }\n',
            )
        ],
    ),
    "terraform.workspace is read": (
        _M5,
        [_edit("main.tf", 'Name = "batch-${var.region}"', 'Name = "batch-${terraform.workspace}"')],
    ),
    "local workspaces exist": (_M5, [_write("terraform.tfstate.d/prod/terraform.tfstate", "{}\n")]),
    "per-environment var files": (
        _M5,
        [_write("prod.tfvars", 'region = "us-east-1"\n'), _write("staging.tfvars", 'region = "us-west-2"\n')],
    ),
    "backend with workspaces": (
        _M5,
        [
            _edit(
                "main.tf",
                '  required_version = ">= 1.5"\n',
                '  required_version = ">= 1.5"\n\n  backend "s3" {\n    bucket               = "tf"\n'
                '    key                  = "infra.tfstate"\n    workspace_key_prefix = "env"\n  }\n',
            )
        ],
    ),
    "set from a variable": (
        ("vol-0a1b2c3d4e5f60003", "aws_ebs_volume", [("type", "gp2", "gp3", "string")]),
        [],
    ),
    "pinned by a comment": (
        _M5,
        [_edit("main.tf", 'instance_type = "m4.large"\n', 'instance_type = "m4.large" # do not change: licence\n')],
    ),
    "report-only": (("eipalloc-0a1b2c3d4e5f60021", None, []), []),
    "not in the state": (("vol-0a1b2c3d4e5f69999", "aws_ebs_volume", [("type", "gp2", "gp3", "string")]), []),
}


def test_every_refusal_names_its_reason_and_the_line_to_change(
    tmp_path: Path, sample_repo: Path, state: dict[str, Any], make_rec: RecFactory
) -> None:
    seen: dict[str, dict[str, str | None]] = {}
    for n, (case, ((rid, rtype, changes), mutators)) in enumerate(REFUSALS.items()):
        repo = tmp_path / f"repo{n}"
        shutil.copytree(sample_repo, repo)
        for mutate in mutators:
            mutate(repo, state)
        result = plan_change(repo, state, make_rec(rid, rtype, changes))
        assert isinstance(result, NotAddressable), (case, result)
        seen[case] = {"code": result.code, "reason": result.reason, "location": result.location}
    _golden("refusals.json", json.dumps(seen, indent=2, sort_keys=True) + "\n")
    assert {v["code"] for v in seen.values()} >= {
        "wider_effect",
        "ignored_by_lifecycle",
        "multi_state",
        "set_from_variable",
        "unsupported",
        "report_only",
        "not_in_state",
    }
    for case, got in seen.items():
        if got["code"] not in ("report_only", "not_in_state"):
            assert got["location"], case


def test_digest_lists_what_needs_a_human(make_rec: RecFactory) -> None:
    a = make_rec("vol-1", "aws_ebs_volume", [("type", "gp2", "gp3", "string")], monthly_savings=Decimal("2.00"))
    b = make_rec("eipalloc-1", None, [], kind="aws-idle-elastic-ip", title="Release idle | EIP @ops")
    items = [
        (a, "set_from_variable", 'aws_ebs_volume.scratch.type is set from var.scratch_type | "gp2"', "variables.tf:7"),
        (b, "report_only", "Remove the aws_eip resource.", None),
    ]
    title, body = render_digest("acme", items)
    assert (title, body) == render_digest("acme", list(reversed(items)))  # order-independent
    assert title == "cloudops: 2 savings that need a human (acme)"
    assert "44.12 USD a month in total" in body
    lines = body.splitlines()
    assert lines.index(next(ln for ln in lines if "eipalloc-1" in ln)) < lines.index(
        next(ln for ln in lines if "vol-1" in ln)
    )  # largest saving first
    assert "**set from a variable**: aws\\_ebs\\_volume" not in body  # underscores are not escaped
    assert "| `variables.tf:7` |" in body
    assert "@ops" not in body
    _assert_wellformed(body)


def test_grouped_pull_request_of_one_kind_in_one_file(sample_repo: Path, state: dict[str, Any]) -> None:
    rows = [
        row("i-0a1b2c3d4e5f60011", "BoxUsage:m4.large", 720, "72.00", operation="RunInstances"),
        row("i-0a1b2c3d4e5f60012", "BoxUsage:c4.xlarge", 720, "143.28", operation="RunInstances"),
    ]
    recs = ec2_previous_generation(rows, CTX)
    assert len(recs) == 2
    grouped = plan_group(sample_repo, state, recs)
    assert isinstance(grouped, ProposedChange), grouped
    assert grouped.title == "2 aws-ec2-previous-generation changes in main.tf (saves 23.76 USD/month)"
    assert grouped.branch == f"cloudops/aws-ec2-previous-generation/group-{grouped.fingerprint}"
    assert "grouped" in grouped.labels
    assert "risk:restart" in grouped.labels
    changed = [ln for ln in grouped.diff.splitlines() if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert sorted(changed) == sorted(
        [
            '-  instance_type = "m4.large"',
            '+  instance_type = "m5.large"',
            '-  instance_type = "c4.xlarge" // compute optimised, previous generation',
            '+  instance_type = "c5.xlarge"',
        ]
    )
    # Same group, same identity, whatever the order; each recommendation keeps its own sections.
    again = plan_group(sample_repo, state, list(reversed(recs)))
    assert isinstance(again, ProposedChange)
    assert (again.fingerprint, again.body) == (grouped.fingerprint, grouped.body)
    assert grouped.body.count("#### How much") == 2
    assert grouped.body.count("#### Rollback") == 2
    assert grouped.body.count("```diff") == 1
    _golden("grouped-aws-ec2-previous-generation.md", grouped.body)
    _assert_wellformed(grouped.body)
    # One member that cannot be planned makes the group say so (the caller drops it).
    drifted = recs[0].model_copy(update={"resource_id": "vol-0a1b2c3d4e5f69999"})
    refused = plan_group(sample_repo, state, [drifted, recs[1]])
    assert isinstance(refused, NotAddressable)
    assert refused.code == "not_in_state"
