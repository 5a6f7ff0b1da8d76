"""Pull-request text: savings, diff, evidence, risk, steps, fingerprint marker, escaping."""

from __future__ import annotations

from decimal import Decimal

from cloudops.schemas.recommendations import Evidence
from cloudops.terraform.render import (
    EditNote,
    branch_name,
    find_fingerprint,
    fingerprint_marker,
    format_money,
    render_pull_request,
)

from .conftest import RecFactory

DIFF = """--- a/main.tf
+++ b/main.tf
@@ -24,3 +24,3 @@
   size              = 500
-  type              = "gp2" # previous-generation general purpose
+  type              = "gp3" # previous-generation general purpose
   encrypted         = true  # do not change
"""


def test_body_has_every_section(make_rec: RecFactory) -> None:
    rec = make_rec(
        "vol-0a1b2c3d4e5f60001",
        "aws_ebs_volume",
        [("type", "gp2", "gp3", "string")],
        title="Move EBS volume vol-0a1b2c3d4e5f60001 from gp2 to gp3",
        monthly_savings=Decimal("1234.565"),
        risk="restart",
        risk_note="The volume stays attached; IOPS are briefly degraded while it is modified.",
    )
    text = render_pull_request(
        rec,
        address="aws_ebs_volume.data",
        diff=DIFF,
        edits=[EditNote('aws_ebs_volume.data: type "gp2" -> "gp3"')],
        checks=["terraform fmt -check: main.tf is formatted"],
    )
    assert text.title == "Move EBS volume vol-0a1b2c3d4e5f60001 from gp2 to gp3 (saves 1,234.56 USD/month)"
    body = text.body
    assert body.startswith(fingerprint_marker(rec.fingerprint) + "\n")
    assert find_fingerprint(body) == rec.fingerprint
    assert "**1,234.56 USD per month** (14,814.78 USD per year)" in body
    assert "| **Confidence** | high |" in body
    assert "```diff\n" + DIFF + "```" in body
    assert '- `aws_ebs_volume.data: type "gp2" -> "gp3"`' in body
    assert "| `type` | `gp2` | `gp3` |" in body
    # evidence: the pretty-printed query and the table of rows
    assert '```json\n{\n  "from": "focus",' in body
    assert "| ResourceId | EffectiveCost | BillingPeriodStart |\n|---|---|---|\n" in body
    assert "| vol-0a1b2c3d4e5f60001 | 84.25 | 2023-11-01 |" in body
    # risk, rollout and rollback
    assert "restarts the resource" in body
    assert "IOPS are briefly degraded" in body
    assert "Schedule a maintenance window" in body
    assert "Revert this pull request (or its merge commit) to restore `type = gp2`." in body
    assert "- terraform fmt -check: main.tf is formatted" in body
    assert text.branch == f"cloudops/aws-test-rightsizing/{rec.fingerprint}"
    assert text.labels == ("cloudops", "finops", "aws-test-rightsizing")
    assert text.commit_message.startswith("Move EBS volume vol-0a1b2c3d4e5f60001 from gp2 to gp3\n\n")
    assert "Estimated savings: 1,234.56 USD per month (14,814.78 USD per year)" in text.commit_message
    assert text.commit_message.endswith(f"Cloudops-Fingerprint: {rec.fingerprint}\n")


def test_replacement_risk_steps(make_rec: RecFactory) -> None:
    rec = make_rec("i-1", "aws_instance", [("instance_type", "m4.large", "m5.large", "string")], risk="replacement")
    body = render_pull_request(rec, address="aws_instance.web", diff=DIFF, edits=[]).body
    assert "destroys the resource and creates a new one" in body
    assert "as a replacement." in body
    assert "restore it from the backup" in body


def test_evidence_is_capped_and_escaped(make_rec: RecFactory) -> None:
    rows = tuple(
        {"ResourceId": "vol-1", "EffectiveCost": str(i), "Tag": "@ops-team | <script>alert(1)</script>"}
        for i in range(30)
    )
    rec = make_rec(
        "vol-1", "aws_ebs_volume", [("type", "gp2", "gp3", "string")], evidence=Evidence(query="not json", rows=rows)
    )
    body = render_pull_request(rec, address="aws_ebs_volume.v", diff=DIFF, edits=[]).body
    assert "The first 20 of 30 rows it returned for this resource:" in body
    assert body.count("| vol-1 | ") == 20
    assert "| vol-1 | 19 |" in body
    assert "| vol-1 | 20 |" not in body
    assert "&#64;ops-team \\| &lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<script>" not in body
    assert "@ops-team" not in body
    assert "```json\nnot json\n```" in body


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
