"""The span-finding HCL lexer: strings, heredocs and comments never count as braces; literal rendering."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudops.terraform._syntax import (
    HclLexError,
    decode_string,
    find_attribute,
    find_blocks,
    logical_lines,
    render_literal,
    tokenize,
)


def test_every_resource_block_of_the_fixture_is_found_with_exact_span(sample_repo: Path) -> None:
    text = (sample_repo / "main.tf").read_text()
    tokens = tokenize(text)
    blocks = find_blocks(tokens, "resource")
    assert [b.labels for b in blocks] == [
        ("aws_ebs_volume", "data"),
        ("aws_ebs_volume", "fast"),
        ("aws_ebs_volume", "scratch"),
        ("aws_instance", "web"),
        ("aws_instance", "batch"),
        ("aws_eip", "legacy"),
        ("aws_cloudwatch_log_group", "app"),
        ("aws_s3_bucket", "archive"),
    ]
    for block in blocks:
        # independent check: each block starts at "resource" and ends at the first "\n}" line after it
        header = f'resource "{block.labels[0]}" "{block.labels[1]}" {{'
        assert text.startswith(header, block.start)
        assert block.end == text.index("\n}\n", block.start) + 2
    # the heredoc, block comment and "}" inside strings did not end aws_instance blocks early
    web = blocks[3]
    assert "EOT" in text[web.start : web.end]
    assert "block comment" in text[web.start : web.end]
    batch = blocks[4]
    assert text[batch.start : batch.end].endswith('Brace = "}" }\n}')


def test_attribute_after_brace_characters_in_strings_heredocs_and_comments() -> None:
    text = (
        'resource "x" "y" {\n'
        '  a = "}" # }\n'
        "  /* } { */\n"
        "  b = <<EOT\n"
        '  instance_type = "fake" }\n'
        "EOT\n"
        '  c = "${jsonencode({ k = "}" })}"\n'
        '  instance_type = "m5.large" // real\n'
        "}\n"
    )
    tokens = tokenize(text)
    (block,) = find_blocks(tokens, "resource")
    attr = find_attribute(text, tokens, block, "instance_type")
    assert attr is not None
    assert (attr.kind, attr.value, attr.line) == ("string", "m5.large", 8)
    c = find_attribute(text, tokens, block, "c")
    assert c is not None
    assert c.kind == "expression"


def test_nested_block_arguments_are_not_top_level() -> None:
    text = 'resource "x" "y" {\n  root_block_device {\n    volume_type = "gp2"\n  }\n}\n'
    tokens = tokenize(text)
    (block,) = find_blocks(tokens, "resource")
    assert find_attribute(text, tokens, block, "volume_type") is None


@pytest.mark.parametrize(
    ("expr", "kind", "value"),
    [
        ('"gp2"', "string", "gp2"),
        ('"a\\"b\\\\c $${x}"', "string", 'a"b\\c ${x}'),
        ("500", "number", "500"),
        ("-1.5e3", "number", "-1.5e3"),
        ("true", "bool", "true"),
        ("var.scratch_type", "variable", "scratch_type"),
        ("local.size", "local", "size"),
        ('"gp${var.n}"', "expression", None),
        ('lookup(var.m, "k")', "expression", None),
        ("null", "expression", None),
    ],
)
def test_value_classification(expr: str, kind: str, value: str | None) -> None:
    text = f'resource "x" "y" {{\n  v = {expr}\n}}\n'
    tokens = tokenize(text)
    (block,) = find_blocks(tokens, "resource")
    attr = find_attribute(text, tokens, block, "v")
    assert attr is not None
    assert (attr.kind, attr.value, attr.value_text) == (kind, value, expr)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ('a = "open\n', 1),
        ("x {\n  y = 1\n", 1),
        ("a = 1\n/* never closed\n", 2),
        ("a = 1\nb = <<EOT\nno end\n", 2),
        ("a = 1\nb = 2 ~ 3\n", 2),
        ("a = [1, 2}\n", 1),
    ],
)
def test_lex_errors_carry_the_line(text: str, line: int) -> None:
    with pytest.raises(HclLexError) as err:
        tokenize(text)
    assert err.value.line == line


def test_render_literal_round_trips_through_decode() -> None:
    for value in ["plain", 'quote " and \\ backslash', "tab\tnew\nline", "${not_interpolated} %{nor_this}", "é"]:
        literal = render_literal(value, "string")
        tokens = tokenize(f"v = {literal}\n")
        assert [t.kind for t in tokens] == ["ident", "punct", "string", "newline"]
        assert decode_string(tokens[2].text) == value
    assert render_literal(" 30 ", "number") == "30"
    assert render_literal("TRUE", "bool") == "true"
    with pytest.raises(ValueError, match="not a number"):
        render_literal("30 days", "number")
    with pytest.raises(ValueError, match="not a bool"):
        render_literal("yes", "bool")


def test_logical_lines_treat_a_heredoc_as_one_line() -> None:
    text = "a = <<-EOT\n  x = 1\n  EOT\nbb = 2 # c\n# only a comment\n"
    lines = logical_lines(text, tokenize(text))
    assert len(lines) == 3
    assert lines[0].assign == 1
    assert not lines[0].comment
    assert lines[1].assign == 1
    assert lines[1].comment
    assert lines[2].assign is None
    assert not lines[2].comment
