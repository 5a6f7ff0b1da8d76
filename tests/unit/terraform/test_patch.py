"""Minimal edits: one line changed in place, one line inserted, fmt groups re-aligned, drift detected."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import pytest

from cloudops.schemas.recommendations import AttributeChange
from cloudops.terraform._syntax import find_attribute, find_blocks, tokenize
from cloudops.terraform.check import fmt_check
from cloudops.terraform.locate import Repository, locate_attribute
from cloudops.terraform.outcome import NotAddressableError
from cloudops.terraform.patch import Patch, apply_change, insert_attribute, replace_value
from cloudops.terraform.state import find_in_state


def _change(attribute: str, current: str | None, proposed: str, kind: str = "string") -> AttributeChange:
    return AttributeChange.model_validate(
        {"attribute": attribute, "current": current, "proposed": proposed, "value_kind": kind}
    )


def _patch(repo_dir: Path, state: dict[str, Any], resource_id: str, change: AttributeChange) -> Patch:
    match = find_in_state(state, resource_id)
    assert match is not None
    repo = Repository(repo_dir)
    target = locate_attribute(repo, match, change.attribute)
    return apply_change(
        repo.read(target.block.file), target, change, state_value=match.attributes.get(change.attribute)
    )


def _changed(before: str, after: str) -> list[str]:
    return [ln for ln in difflib.ndiff(before.splitlines(True), after.splitlines(True)) if ln[:1] in "+-"]


def test_in_place_change_drops_the_stale_comment_of_its_line(sample_repo: Path, state: dict[str, Any]) -> None:
    patch = _patch(sample_repo, state, "vol-0a1b2c3d4e5f60001", _change("type", "gp2", "gp3"))
    assert patch.file == "main.tf"
    assert patch.before == (sample_repo / "main.tf").read_text()
    old = '  type              = "gp2" # previous-generation general purpose\n'
    new = '  type              = "gp3"\n'
    # The comment described gp2: it goes with the old value; terraform fmt then aligns the next
    # line's comment one column left (whitespace only), and nothing else changes.
    neighbour_old = "  encrypted         = true  # do not change\n"
    neighbour_new = "  encrypted         = true # do not change\n"
    assert sorted(_changed(patch.before, patch.after)) == sorted(
        [f"- {old}", f"- {neighbour_old}", f"+ {new}", f"+ {neighbour_new}"]
    )
    assert patch.after == patch.before.replace(old + neighbour_old, new + neighbour_new)
    assert patch.description == 'aws_ebs_volume.data: type "gp2" -> "gp3"'
    assert patch.removed_comment == "# previous-generation general purpose"
    assert fmt_check({"main.tf": patch.after}) == {"main.tf": None}


def test_a_pinned_line_is_refused(repo_copy: Path, state: dict[str, Any]) -> None:
    main = repo_copy / "main.tf"
    main.write_text(main.read_text().replace('"m4.large"\n', '"m4.large" # pinned: licence tied to m4\n', 1))
    with pytest.raises(NotAddressableError) as err:
        _patch(repo_copy, state, "i-0a1b2c3d4e5f60011", _change("instance_type", "m4.large", "m5.large"))
    assert err.value.outcome.code == "unsupported"
    assert "a human pinned this value" in err.value.outcome.reason
    assert err.value.outcome.location is not None
    assert err.value.outcome.location.startswith("main.tf:")


def test_module_input_change_leaves_the_module_source_alone(sample_repo: Path, state: dict[str, Any]) -> None:
    patch = _patch(sample_repo, state, "orders-db", _change("instance_class", "db.m4.large", "db.m5.large"))
    assert patch.file == "main.tf"
    assert _changed(patch.before, patch.after) == [
        '-   instance_class = "db.m4.large"\n',
        '+   instance_class = "db.m5.large"\n',
    ]


def test_inserted_argument_realigns_only_its_group(sample_repo: Path, state: dict[str, Any]) -> None:
    patch = _patch(sample_repo, state, "/app/web", _change("retention_in_days", None, "30", "number"))
    before_block = 'resource "aws_cloudwatch_log_group" "app" {\n  name = "/app/web"\n}\n'
    after_block = (
        'resource "aws_cloudwatch_log_group" "app" {\n  name              = "/app/web"\n  retention_in_days = 30\n}\n'
    )
    assert patch.after == patch.before.replace(before_block, after_block)
    assert len(patch.after.splitlines()) == len(patch.before.splitlines()) + 1


def test_insert_after_a_nested_block_joins_no_group() -> None:
    text = 'resource "x" "y" {\n  a = 1\n\n  tags = {\n    k = "v"\n  }\n}\n'
    tokens = tokenize(text)
    (block,) = find_blocks(tokens, "resource")
    after = insert_attribute(text, block, "retention_in_days", "7")
    assert after == text.replace("  }\n}\n", "  }\n  retention_in_days = 7\n}\n")


def test_value_of_new_length_realigns_trailing_comments() -> None:
    text = 'resource "a" "b" {\n  x = "ab" # one\n  y = "c"  # two\n\n  zz = 1 # alone\n}\n'
    tokens = tokenize(text)
    (block,) = find_blocks(tokens, "resource")
    attr = find_attribute(text, tokens, block, "x")
    assert attr is not None
    after = replace_value(text, attr, '"abcd"')
    assert after == 'resource "a" "b" {\n  x = "abcd" # one\n  y = "c"    # two\n\n  zz = 1 # alone\n}\n'


def test_crlf_files_keep_crlf() -> None:
    text = 'resource "aws_cloudwatch_log_group" "g" {\r\n  name = "/x" # keep\r\n}\r\n'
    tokens = tokenize(text)
    (block,) = find_blocks(tokens, "resource")
    after = insert_attribute(text, block, "retention_in_days", "30")
    assert after == (
        'resource "aws_cloudwatch_log_group" "g" {\r\n  name              = "/x" # keep\r\n'
        "  retention_in_days = 30\r\n}\r\n"
    )


def test_single_line_block_is_not_split() -> None:
    text = 'resource "a" "b" { name = "x" }\n'
    (block,) = find_blocks(tokenize(text), "resource")
    with pytest.raises(NotAddressableError) as err:
        insert_attribute(text, block, "retention_in_days", "30")
    assert err.value.outcome.code == "unsupported"


def test_patched_texts_pass_terraform_fmt(sample_repo: Path, state: dict[str, Any]) -> None:
    patches = {
        "in_place.tf": _patch(
            sample_repo, state, "i-0a1b2c3d4e5f60012", _change("instance_type", "c4.xlarge", "c5.2xlarge")
        ),
        "inserted.tf": _patch(sample_repo, state, "/app/web", _change("retention_in_days", None, "30", "number")),
        "module.tf": _patch(sample_repo, state, "orders-db", _change("instance_class", "db.m4.large", "db.r6g.xlarge")),
    }
    comment_chain = 'resource "a" "b" {\n  x = "ab" # one\n  y = "c"  # two\n}\n'
    tokens = tokenize(comment_chain)
    (block,) = find_blocks(tokens, "resource")
    attr = find_attribute(comment_chain, tokens, block, "x")
    assert attr is not None
    texts = {name: p.after for name, p in patches.items()}
    texts["comments.tf"] = replace_value(comment_chain, attr, '"a much longer value"')
    assert fmt_check(texts) == dict.fromkeys(texts)


def test_drifted_value_is_reported(sample_repo: Path, state: dict[str, Any]) -> None:
    with pytest.raises(NotAddressableError) as err:
        _patch(sample_repo, state, "i-0a1b2c3d4e5f60011", _change("instance_type", "m4.xlarge", "m5.xlarge"))
    assert err.value.outcome.code == "drifted"
    assert '"m4.large"' in err.value.outcome.reason
    assert "'m4.xlarge'" in err.value.outcome.reason


def test_numbers_compare_as_numbers(sample_repo: Path, state: dict[str, Any]) -> None:
    patch = _patch(sample_repo, state, "vol-0a1b2c3d4e5f60001", _change("size", "500.0", "400", "number"))
    assert "  size              = 400\n" in patch.after


def test_value_already_proposed(sample_repo: Path, state: dict[str, Any]) -> None:
    with pytest.raises(NotAddressableError) as err:
        _patch(sample_repo, state, "vol-0a1b2c3d4e5f60002", _change("type", "io2", "io1"))
    assert err.value.outcome.code == "already_applied"


def test_set_in_config_but_unset_on_the_bill_is_drift(sample_repo: Path, state: dict[str, Any]) -> None:
    with pytest.raises(NotAddressableError) as err:
        _patch(sample_repo, state, "vol-0a1b2c3d4e5f60002", _change("iops", None, "16000", "number"))
    assert err.value.outcome.code == "drifted"


def test_absent_argument_with_a_billed_value_checks_the_state(sample_repo: Path, state: dict[str, Any]) -> None:
    # the log group's class is not in the HCL; the state (provider default) says STANDARD
    patch = _patch(sample_repo, state, "/app/web", _change("log_group_class", "STANDARD", "INFREQUENT_ACCESS"))
    assert '  log_group_class = "INFREQUENT_ACCESS"\n}' in patch.after
    with pytest.raises(NotAddressableError) as err:
        _patch(sample_repo, state, "/app/web", _change("log_group_class", "DELIVERY", "INFREQUENT_ACCESS"))
    assert err.value.outcome.code == "drifted"
    assert "'STANDARD'" in err.value.outcome.reason


def test_proposed_string_is_escaped(sample_repo: Path, state: dict[str, Any]) -> None:
    patch = _patch(sample_repo, state, "203.0.113.10", _change("domain", "vpc", 'v"p${c}'))
    assert '  domain = "v\\"p$${c}"\n' in patch.after


def test_bad_proposed_number(sample_repo: Path, state: dict[str, Any]) -> None:
    with pytest.raises(NotAddressableError) as err:
        _patch(sample_repo, state, "/app/web", _change("retention_in_days", None, "thirty", "number"))
    assert err.value.outcome.code == "unsupported"
