"""State matching: every billed id form, ambiguity, data sources, count/for_each, bad states."""

from __future__ import annotations

from typing import Any

import pytest

from cloudops.terraform.outcome import NotAddressableError
from cloudops.terraform.state import find_all_in_state, find_in_state, format_address, parse_module_path


def _managed(type_: str, name: str, attributes: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"mode": "managed", "type": type_, "name": name, "instances": [{"attributes": attributes}], **extra}


@pytest.mark.parametrize(
    ("resource_id", "address", "matched_on"),
    [
        ("vol-0a1b2c3d4e5f60001", "aws_ebs_volume.data", "id"),
        ("arn:aws:ec2:us-east-1:123456789012:volume/vol-0a1b2c3d4e5f60002", "aws_ebs_volume.fast", "arn"),
        (" vol-0a1b2c3d4e5f60003 ", "aws_ebs_volume.scratch", "id"),
        ("i-0a1b2c3d4e5f60011", "aws_instance.web", "id"),
        ("arn:aws:ec2:us-east-1:123456789012:instance/i-0a1b2c3d4e5f60012", "aws_instance.batch", "arn"),
        ("eipalloc-0a1b2c3d4e5f60021", "aws_eip.legacy", "id"),
        ("203.0.113.10", "aws_eip.legacy", "public_ip"),
        ("arn:aws:logs:us-east-1:123456789012:log-group:/app/web", "aws_cloudwatch_log_group.app", "arn"),
        ("arn:aws:logs:us-east-1:123456789012:log-group:/app/web:*", "aws_cloudwatch_log_group.app", "arn"),
        ("/app/web", "aws_cloudwatch_log_group.app", "id"),
        ("cloudops-demo-archive", "aws_s3_bucket.archive", "id"),
        ("arn:aws:s3:::cloudops-demo-archive", "aws_s3_bucket.archive", "arn"),
        ("arn:aws:rds:us-east-1:123456789012:db:orders-db", "module.db.aws_db_instance.this", "arn"),
        ("orders-db", "module.db.aws_db_instance.this", "identifier"),
        ("db-3JQOEXAMPLE7K2LRT4N5ZQ", "module.db.aws_db_instance.this", "id"),
    ],
)
def test_fixture_id_forms(state: dict[str, Any], resource_id: str, address: str, matched_on: str) -> None:
    match = find_in_state(state, resource_id)
    assert match is not None
    assert (match.address, match.matched_on) == (address, matched_on)
    assert match.instances == 1
    assert match.index_key is None


def test_module_resource_carries_module_path_and_attributes(state: dict[str, Any]) -> None:
    match = find_in_state(state, "arn:aws:rds:us-east-1:123456789012:db:orders-db", "aws_db_instance")
    assert match is not None
    assert match.module == "module.db"
    assert match.module_path == ("db",)
    assert (match.type, match.name) == ("aws_db_instance", "this")
    assert match.config_address == "module.db.aws_db_instance.this"
    assert match.attributes["instance_class"] == "db.m4.large"


def test_ec2_arn_matches_bare_id_when_state_has_no_arn() -> None:
    state = {"version": 4, "resources": [_managed("aws_ebs_volume", "old", {"id": "vol-0123"})]}
    match = find_in_state(state, "arn:aws:ec2:eu-west-1:111122223333:volume/vol-0123")
    assert match is not None
    assert match.matched_on == "id"


def test_rds_resource_id_attribute_matches() -> None:
    attrs = {"id": "orders", "identifier": "orders", "resource_id": "db-ABCDEF", "arn": "arn:aws:rds:x:1:db:orders"}
    state = {"version": 4, "resources": [_managed("aws_db_instance", "legacy", attrs)]}
    match = find_in_state(state, "db-ABCDEF")
    assert match is not None
    assert match.matched_on == "resource_id"


def test_unknown_id_is_none(state: dict[str, Any]) -> None:
    assert find_in_state(state, "vol-0a1b2c3d4e5f69999") is None


def test_resource_type_filter(state: dict[str, Any]) -> None:
    assert find_in_state(state, "vol-0a1b2c3d4e5f60001", "aws_instance") is None
    match = find_in_state(state, "vol-0a1b2c3d4e5f60001", "aws_ebs_volume")
    assert match is not None
    assert match.address == "aws_ebs_volume.data"


def test_data_sources_are_ignored(state: dict[str, Any]) -> None:
    state["resources"].append(
        {
            "mode": "data",
            "type": "aws_ebs_volume",
            "name": "lookup",
            "instances": [{"attributes": {"id": "vol-0a1b2c3d4e5f60001", "arn": "x"}}],
        }
    )
    assert [m.address for m in find_all_in_state(state, "vol-0a1b2c3d4e5f60001")] == ["aws_ebs_volume.data"]
    # the caller-identity data source has id 123456789012: never a match
    assert find_in_state(state, "123456789012") is None


def test_ambiguous_match_is_an_outcome_not_a_guess(state: dict[str, Any]) -> None:
    # SSM parameters use their name as id, like log groups: "/app/web" names both.
    state["resources"].append(_managed("aws_ssm_parameter", "web", {"id": "/app/web", "name": "/app/web"}))
    with pytest.raises(NotAddressableError) as err:
        find_in_state(state, "/app/web")
    assert err.value.outcome.code == "ambiguous"
    assert "aws_cloudwatch_log_group.app" in err.value.outcome.reason
    assert "aws_ssm_parameter.web" in err.value.outcome.reason
    # the Terraform type from the recommendation settles it
    match = find_in_state(state, "/app/web", "aws_cloudwatch_log_group")
    assert match is not None
    assert match.address == "aws_cloudwatch_log_group.app"


def test_same_instance_matched_on_two_attributes_is_not_ambiguous(state: dict[str, Any]) -> None:
    # the log group's id and name are both "/app/web"
    assert len(find_all_in_state(state, "/app/web")) == 1


def test_count_and_for_each_instances() -> None:
    state = {
        "version": 4,
        "resources": [
            {
                "mode": "managed",
                "type": "aws_instance",
                "name": "web",
                "instances": [
                    {"index_key": 0, "attributes": {"id": "i-000"}},
                    {"index_key": 1, "attributes": {"id": "i-001"}},
                ],
            },
            {
                "module": 'module.app["blue"]',
                "mode": "managed",
                "type": "aws_instance",
                "name": "this",
                "instances": [{"index_key": "a b", "attributes": {"id": "i-100"}}],
            },
        ],
    }
    web = find_in_state(state, "i-001")
    assert web is not None
    assert (web.address, web.index_key, web.instances) == ("aws_instance.web[1]", 1, 2)
    keyed = find_in_state(state, "i-100")
    assert keyed is not None
    assert keyed.address == 'module.app["blue"].aws_instance.this["a b"]'
    assert keyed.module_path == ("app",)
    assert keyed.config_address == "module.app.aws_instance.this"


def test_azure_ids_match_case_insensitively() -> None:
    disk_id = (
        "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/RG-Prod"
        "/providers/Microsoft.Compute/disks/Data-Disk"
    )
    state = {
        "version": 4,
        "resources": [_managed("azurerm_managed_disk", "data", {"id": disk_id, "name": "Data-Disk"})],
    }
    match = find_in_state(state, disk_id.lower() + "/")
    assert match is not None
    assert match.address == "azurerm_managed_disk.data"
    # the name alone is not an Azure id form
    assert find_in_state(state, "Data-Disk") is None


def test_gcp_forms() -> None:
    path = "projects/acme-prod/zones/us-central1-a/instances/web-1"
    attrs = {
        "id": path,
        "self_link": f"https://www.googleapis.com/compute/v1/{path}",
        "name": "web-1",
        "instance_id": "8274626662826362533",
    }
    state = {"version": 4, "resources": [_managed("google_compute_instance", "web", attrs)]}
    for billed in (f"//compute.googleapis.com/{path}", f"https://compute.googleapis.com/compute/v1/{path}", path):
        match = find_in_state(state, billed)
        assert match is not None, billed
        assert match.matched_on == "id", billed
    by_name = find_in_state(state, "web-1")
    assert by_name is not None
    assert by_name.matched_on == "name"
    by_number = find_in_state(state, "8274626662826362533")
    assert by_number is not None
    assert by_number.matched_on == "instance_id"


@pytest.mark.parametrize("bad", [{"version": 3, "resources": []}, {"resources": []}, {"version": 4, "resources": {}}])
def test_bad_state(bad: dict[str, Any]) -> None:
    with pytest.raises(NotAddressableError) as err:
        find_in_state(bad, "vol-1")
    assert err.value.outcome.code == "bad_state"


def test_module_path_and_address_syntax() -> None:
    assert parse_module_path(None) == ()
    assert parse_module_path('module.a["x.y"].module.b[3]') == ("a", "b")
    with pytest.raises(ValueError, match="not a module address"):
        parse_module_path("modules.a")
    assert format_address('module.a["x"]', "aws_s3_bucket", "b", 'k"q') == 'module.a["x"].aws_s3_bucket.b["k\\"q"]'
    assert format_address(None, "aws_instance", "web", 0) == "aws_instance.web[0]"
