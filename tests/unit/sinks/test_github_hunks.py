"""Carrying an edit's hunks onto the base branch's newer text: nothing else of the base changes."""

from __future__ import annotations

import pytest

from cloudops.sinks.github.hunks import HunkConflict, rebase_edit

ORIGINAL = "".join(f"line {i}\n" for i in range(1, 21))
NEW = ORIGINAL.replace("line 5\n", "line 5 edited\n").replace("line 15\n", "line 15\nline 15b\n")


def test_same_base_gives_the_new_text() -> None:
    assert rebase_edit(ORIGINAL, NEW, ORIGINAL) == NEW


def test_teammate_changes_far_away_are_kept() -> None:
    base = ORIGINAL.replace("line 10\n", "line 10 by a teammate\n") + "line 21\n"
    out = rebase_edit(ORIGINAL, NEW, base)
    assert out == base.replace("line 5\n", "line 5 edited\n").replace("line 15\n", "line 15\nline 15b\n")


def test_lines_inserted_above_shift_the_hunks() -> None:
    base = "header\nmore\n" + ORIGINAL
    assert rebase_edit(ORIGINAL, NEW, base) == "header\nmore\n" + NEW


def test_a_change_next_to_the_edit_narrows_the_context() -> None:
    base = ORIGINAL.replace("line 7\n", "line 7 by a teammate\n")
    assert rebase_edit(ORIGINAL, NEW, base) == NEW.replace("line 7\n", "line 7 by a teammate\n")


def test_the_edited_line_changed_on_the_base_is_a_conflict() -> None:
    base = ORIGINAL.replace("line 5\n", "line 5 by a teammate\n")
    with pytest.raises(HunkConflict, match=r"main.tf: the edited line 5 .* changed on the base branch"):
        rebase_edit(ORIGINAL, NEW, base, path="main.tf")


def test_an_edit_already_on_the_base_is_skipped() -> None:
    base = ORIGINAL.replace("line 5\n", "line 5 edited\n")
    assert rebase_edit(ORIGINAL, NEW, base) == NEW


def test_ambiguous_context_is_a_conflict() -> None:
    original = "a\nb\nx = 1\nb\n"
    new = "a\nb\nx = 2\nb\n"
    base = "b\nx = 1\nb\nb\nx = 1\nb\n"
    with pytest.raises(HunkConflict):
        rebase_edit(original, new, base)


def test_crlf_is_kept() -> None:
    original = "a\r\nb\r\nc\r\n"
    new = "a\r\nB\r\nc\r\n"
    base = "z\r\na\r\nb\r\nc\r\n"
    assert rebase_edit(original, new, base) == "z\r\na\r\nB\r\nc\r\n"
