"""A small lexer for the HCL native syntax, enough to find exact text spans.

python-hcl2 tells us *what* a configuration says; it does not give byte offsets, and
re-serialising its tree would reformat the customer's file. This module scans the raw
text into tokens with offsets so that callers can find a block's braces, an argument's
value and the lines ``terraform fmt`` aligns, and then edit only those characters.

Contract:

* :func:`tokenize` never reformats anything; it raises :class:`HclLexError` (with a
  1-based line) on text it cannot scan: unterminated strings, heredocs or block
  comments, unbalanced brackets, characters HCL does not allow.
* Quoted strings (with nested ``${ ... }`` / ``%{ ... }`` templates), heredocs and
  comments are single tokens, so braces inside them never count as brackets.
* Pure functions; no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal

from cloudops.errors import CloudopsError

__all__ = [
    "Attribute",
    "Block",
    "HclLexError",
    "LogicalLine",
    "Token",
    "ValueKind",
    "find_attribute",
    "find_blocks",
    "line_of",
    "logical_lines",
    "realign",
    "render_literal",
    "tokenize",
    "values_equal",
]

TokenKind = Literal["ident", "number", "string", "heredoc", "comment", "newline", "punct"]
ValueKind = Literal["string", "number", "bool", "variable", "local", "expression"]

_OPENERS = {"{": "}", "[": "]", "(": ")"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}
_PUNCT3 = ("...",)
_PUNCT2 = ("==", "!=", "<=", ">=", "=>", "&&", "||", "::")
_PUNCT1 = "{}[]()=,.:?!+-*/%<>"
_IDENT = re.compile(r"[^\W\d][\w-]*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_HEREDOC_OPEN = re.compile(r"<<(-?)([^\W\d][\w-]*)\r?\n")
_NUMBER_TEXT = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


class HclLexError(CloudopsError):
    """The text is not scannable HCL; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        self.message = message
        self.line = line
        super().__init__(f"line {line}: {message}")


@dataclass(frozen=True, slots=True)
class Token:
    kind: TokenKind
    text: str
    start: int
    end: int
    depth: int = 0
    """Bracket depth *outside* this token (an opener and its closer share one depth)."""

    @property
    def is_line_comment(self) -> bool:
        return self.kind == "comment" and self.text.endswith("\n")

    @property
    def ends_line(self) -> bool:
        """True for tokens that terminate a line for ``terraform fmt``: newlines and ``#``/``//`` comments."""
        return self.kind == "newline" or self.is_line_comment


def line_of(text: str, offset: int) -> int:
    """1-based line number of ``offset`` in ``text``."""
    return text.count("\n", 0, offset) + 1


def _scan_quoted(text: str, pos: int) -> int:
    """``pos`` is at an opening quote; return the offset just after the closing quote."""
    i = pos + 1
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c == "\n":
            raise HclLexError("unterminated string", line_of(text, pos))
        if c in "$%" and text.startswith(c + c + "{", i):
            i += 3  # escaped template sequence: literal "${" / "%{"
            continue
        if c in "$%" and text.startswith(c + "{", i):
            i = _scan_template_body(text, i + 2)
            continue
        i += 1
    raise HclLexError("unterminated string", line_of(text, pos))


def _scan_template_body(text: str, pos: int) -> int:
    """Scan an interpolation/directive body from ``pos`` (after ``${``) to just after its ``}``."""
    depth = 0
    i = pos
    n = len(text)
    while i < n:
        c = text[i]
        if c == '"':
            i = _scan_quoted(text, i)
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            if depth == 0:
                return i + 1
            depth -= 1
        i += 1
    raise HclLexError("unterminated template interpolation", line_of(text, pos))


def _scan_heredoc(text: str, pos: int, match: re.Match[str]) -> int:
    """Return the offset just after the heredoc's closing marker (the newline after it is not included)."""
    marker = match.group(2)
    i = match.end()
    n = len(text)
    while i <= n:
        eol = text.find("\n", i)
        line_end = n if eol == -1 else eol
        line = text[i:line_end].rstrip("\r")
        if line.strip() == marker:
            return i + len(line)
        if eol == -1:
            break
        i = eol + 1
    raise HclLexError(f"unterminated heredoc <<{match.group(1)}{marker}", line_of(text, pos))


def tokenize(text: str) -> list[Token]:
    """Scan ``text`` into tokens (whitespace dropped), each with its bracket depth. Raises HclLexError."""
    tokens: list[Token] = []
    stack: list[tuple[str, int]] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in " \t\r" and not text.startswith("\r\n", i):
            i += 1
            continue
        if c == "\n" or text.startswith("\r\n", i):
            end = i + (2 if c == "\r" else 1)
            tokens.append(Token("newline", text[i:end], i, end, len(stack)))
            i = end
            continue
        if c == "#" or text.startswith("//", i):
            eol = text.find("\n", i)
            end = n if eol == -1 else eol + 1
            tokens.append(Token("comment", text[i:end], i, end, len(stack)))
            i = end
            continue
        if text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close == -1:
                raise HclLexError("unterminated block comment", line_of(text, i))
            tokens.append(Token("comment", text[i : close + 2], i, close + 2, len(stack)))
            i = close + 2
            continue
        if c == '"':
            end = _scan_quoted(text, i)
            tokens.append(Token("string", text[i:end], i, end, len(stack)))
            i = end
            continue
        if text.startswith("<<", i):
            m = _HEREDOC_OPEN.match(text, i)
            if m is None:
                raise HclLexError("invalid heredoc opener", line_of(text, i))
            end = _scan_heredoc(text, i, m)
            tokens.append(Token("heredoc", text[i:end], i, end, len(stack)))
            i = end
            continue
        m = _NUMBER.match(text, i)
        if m:
            tokens.append(Token("number", m.group(), i, m.end(), len(stack)))
            i = m.end()
            continue
        m = _IDENT.match(text, i)
        if m:
            tokens.append(Token("ident", m.group(), i, m.end(), len(stack)))
            i = m.end()
            continue
        punct = next((p for p in (*_PUNCT3, *_PUNCT2) if text.startswith(p, i)), c if c in _PUNCT1 else None)
        if punct is None:
            raise HclLexError(f"unexpected character {c!r}", line_of(text, i))
        if punct in _OPENERS:
            tokens.append(Token("punct", punct, i, i + 1, len(stack)))
            stack.append((punct, i))
        elif punct in _CLOSERS:
            if not stack or stack[-1][0] != _CLOSERS[punct]:
                raise HclLexError(f"unbalanced {punct!r}", line_of(text, i))
            stack.pop()
            tokens.append(Token("punct", punct, i, i + 1, len(stack)))
        else:
            tokens.append(Token("punct", punct, i, i + len(punct), len(stack)))
        i += len(punct)
    if stack:
        opener, at = stack[-1]
        raise HclLexError(f"{opener!r} is never closed", line_of(text, at))
    return tokens


# --------------------------------------------------------------------------- blocks


@dataclass(frozen=True, slots=True)
class Block:
    """A block such as ``resource "aws_ebs_volume" "data" { ... }`` and its exact span."""

    type: str
    labels: tuple[str, ...]
    start: int
    """Offset of the block type keyword."""
    open_brace: int
    close_brace: int
    """Offset of the closing ``}``; ``text[start:close_brace + 1]`` is the whole block."""
    depth: int
    open_index: int
    """Index of the ``{`` token in the token list the block was found in."""
    close_index: int

    @property
    def end(self) -> int:
        return self.close_brace + 1


def _is_template(string_token: str) -> bool:
    """Whether a quoted string contains an interpolation or directive (escaped ``$${``/``%%{`` do not count)."""
    plain = string_token.replace("$${", "").replace("%%{", "")
    return "${" in plain or "%{" in plain


def _label(tok: Token) -> str | None:
    if tok.kind == "ident":
        return tok.text
    if tok.kind == "string" and not _is_template(tok.text):
        return decode_string(tok.text)
    return None


def _matching_close(tokens: Sequence[Token], open_index: int) -> int:
    depth = tokens[open_index].depth
    for j in range(open_index + 1, len(tokens)):
        t = tokens[j]
        if t.kind == "punct" and t.text == "}" and t.depth == depth:
            return j
    raise HclLexError("block is never closed", -1)  # pragma: no cover - tokenize() balances brackets


def find_blocks(
    tokens: Sequence[Token], block_type: str, *, depth: int = 0, within: Block | None = None
) -> list[Block]:
    """Blocks of ``block_type`` at bracket ``depth`` (0 = top level of the file, or of ``within``'s body)."""
    lo, hi = (within.open_index + 1, within.close_index) if within else (0, len(tokens))
    want = within.depth + 1 if within else depth
    out: list[Block] = []
    i = lo
    while i < hi:
        t = tokens[i]
        at_line_start = (
            i == lo or tokens[i - 1].ends_line or (tokens[i - 1].kind == "punct" and tokens[i - 1].text == "{")
        )
        if t.kind == "ident" and t.text == block_type and t.depth == want and at_line_start:
            labels: list[str] = []
            j = i + 1
            while j < hi and tokens[j].kind in ("string", "ident"):
                label = _label(tokens[j])
                if label is None:
                    break
                labels.append(label)
                j += 1
            if j < hi and tokens[j].kind == "punct" and tokens[j].text == "{":
                close = _matching_close(tokens, j)
                out.append(
                    Block(block_type, tuple(labels), t.start, tokens[j].start, tokens[close].start, want, j, close)
                )
                i = close + 1
                continue
        i += 1
    return out


# --------------------------------------------------------------------------- attributes


@dataclass(frozen=True, slots=True)
class Attribute:
    """``name = expression`` directly in a block body, with the exact span of the expression."""

    name: str
    name_start: int
    value_start: int
    value_end: int
    value_text: str
    kind: ValueKind
    value: str | None
    """Literal value as text (strings decoded, bools lower-case); the reference name for
    ``variable``/``local`` kinds (e.g. ``scratch_type``); None for other expressions."""
    line: int


def decode_string(token_text: str) -> str:
    """Decode a quoted HCL string literal (no templates) including its escapes."""
    body = token_text[1:-1]
    out: list[str] = []
    i = 0
    simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            width = {"u": 4, "U": 8}.get(nxt)
            if width and i + 2 + width <= len(body):
                try:
                    out.append(chr(int(body[i + 2 : i + 2 + width], 16)))
                    i += 2 + width
                    continue
                except ValueError:
                    pass
        if c in "$%" and body.startswith(c + c + "{", i):
            out.append(c + "{")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _classify(expr: Sequence[Token]) -> tuple[ValueKind, str | None]:
    if len(expr) == 1:
        t = expr[0]
        if t.kind == "string" and not _is_template(t.text):
            return "string", decode_string(t.text)
        if t.kind == "number":
            return "number", t.text
        if t.kind == "ident" and t.text in ("true", "false"):
            return "bool", t.text
    if len(expr) == 2 and expr[0].text == "-" and expr[1].kind == "number":
        return "number", "-" + expr[1].text
    if len(expr) == 3 and expr[0].kind == "ident" and expr[1].text == "." and expr[2].kind == "ident":
        if expr[0].text == "var":
            return "variable", expr[2].text
        if expr[0].text == "local":
            return "local", expr[2].text
    return "expression", None


def find_attribute(text: str, tokens: Sequence[Token], block: Block, name: str) -> Attribute | None:
    """The argument ``name`` set directly in ``block``'s body (not in nested blocks), or None."""
    body_depth = block.depth + 1
    i = block.open_index + 1
    while i < block.close_index:
        t = tokens[i]
        prev = tokens[i - 1]
        at_stmt_start = prev.ends_line or (prev.kind == "punct" and prev.text == "{" and i - 1 == block.open_index)
        if (
            t.kind == "ident"
            and t.text == name
            and t.depth == body_depth
            and at_stmt_start
            and tokens[i + 1].kind == "punct"
            and tokens[i + 1].text == "="
        ):
            j = i + 2
            expr: list[Token] = []
            while j < block.close_index:
                u = tokens[j]
                if u.depth == body_depth and u.ends_line:
                    break
                if u.kind not in ("newline", "comment"):
                    expr.append(u)
                j += 1
            if not expr:
                return None
            kind, value = _classify(expr)
            return Attribute(
                name=name,
                name_start=t.start,
                value_start=expr[0].start,
                value_end=expr[-1].end,
                value_text=text[expr[0].start : expr[-1].end],
                kind=kind,
                value=value,
                line=line_of(text, t.start),
            )
        i += 1
    return None


# --------------------------------------------------------------------------- literals


def render_literal(value: str, kind: Literal["string", "number", "bool"]) -> str:
    """HCL source text for a literal; raises ValueError for a number or bool that is not one."""
    if kind == "number":
        if not _NUMBER_TEXT.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a number")
        return value.strip()
    if kind == "bool":
        low = value.strip().lower()
        if low not in ("true", "false"):
            raise ValueError(f"{value!r} is not a bool")
        return low
    out: list[str] = ['"']
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    i = 0
    while i < len(value):
        c = value[i]
        if c in "$%" and value.startswith(c + "{", i):
            out.append(c + c + "{")
            i += 2
            continue
        if c in escapes:
            out.append(escapes[c])
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
        i += 1
    out.append('"')
    return "".join(out)


def values_equal(hcl_value: str, kind: ValueKind, other: str) -> bool:
    """Whether a literal from HCL (as :class:`Attribute.value`) equals a value given as text."""
    if kind == "number":
        try:
            return Decimal(hcl_value) == Decimal(other.strip())
        except InvalidOperation:
            return False
    if kind == "bool":
        return hcl_value == other.strip().lower()
    return hcl_value == other


# --------------------------------------------------------------------------- fmt alignment


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """One line as ``terraform fmt`` sees it (heredocs and block comments may span physical lines)."""

    start: int
    tokens: tuple[Token, ...]
    """Tokens of the line without its terminating newline token (a trailing ``#``/``//`` comment is kept)."""
    assign: int | None
    """Index in ``tokens`` of the ``=`` whose alignment fmt manages, or None."""
    comment: bool
    """True when the line ends with a ``#``/``//`` comment that follows other tokens."""

    @property
    def end(self) -> int:
        return self.tokens[-1].end if self.tokens else self.start


def logical_lines(text: str, tokens: Sequence[Token]) -> list[LogicalLine]:
    """Split tokens into fmt's lines and find each line's assignment and trailing-comment cells.

    Mirrors hclwrite's ``linesForFormat``: the first ``=`` (not at the start) opens the
    "assign" cell when the rest of the line has balanced brackets; a trailing single-line
    comment is the "comment" cell when the line has other tokens too.
    """
    lines: list[LogicalLine] = []
    current: list[Token] = []
    start = 0
    for tok in tokens:
        if tok.kind == "newline":
            lines.append(_make_line(start, current))
            current, start = [], tok.end
        elif tok.is_line_comment:
            current.append(tok)
            lines.append(_make_line(start, current))
            current, start = [], tok.end
        else:
            current.append(tok)
    if current:
        lines.append(_make_line(start, current))
    return lines


def _make_line(start: int, toks: list[Token]) -> LogicalLine:
    comment = len(toks) > 1 and toks[-1].is_line_comment
    lead = toks[:-1] if comment else toks
    assign: int | None = None
    for i, t in enumerate(lead):
        if i > 0 and t.kind == "punct" and t.text == "=":
            net = 0
            for u in lead[i:]:
                if u.kind == "punct" and u.text in _OPENERS:
                    net += 1
                elif u.kind == "punct" and u.text in _CLOSERS:
                    net -= 1
            if net == 0:
                assign = i
            break
    return LogicalLine(start, tuple(toks), assign, comment)


def _chain(lines: Sequence[LogicalLine], index: int, member: str) -> range:
    def has(line: LogicalLine) -> bool:
        return line.assign is not None if member == "assign" else line.comment

    if not has(lines[index]):
        return range(0)
    lo = index
    while lo > 0 and has(lines[lo - 1]):
        lo -= 1
    hi = index
    while hi + 1 < len(lines) and has(lines[hi + 1]):
        hi += 1
    return range(lo, hi + 1)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def realign(text: str, changed_from: int, changed_to: int) -> str:
    """Re-align the ``=`` and trailing-comment columns of the fmt groups that touch ``[changed_from, changed_to]``.

    Only whitespace between cells of lines in those groups changes, exactly as
    ``terraform fmt`` would set it; every other character is kept.
    """
    for member in ("assign", "comment"):
        tokens = tokenize(text)
        lines = logical_lines(text, tokens)
        touched = [i for i, ln in enumerate(lines) if ln.start <= changed_to and ln.end >= changed_from]
        chains: set[range] = {_chain(lines, i, member) for i in touched}
        edits: list[tuple[int, int, str]] = []
        for chain in chains:
            if not chain:
                continue
            members = [lines[i] for i in chain]
            if member == "assign":
                widths = [ln.tokens[ln.assign - 1].end - ln.start for ln in members if ln.assign is not None]
                col = max(widths)
                for ln in members:
                    assert ln.assign is not None
                    before, eq = ln.tokens[ln.assign - 1], ln.tokens[ln.assign]
                    edits.append((before.end, eq.start, " " * (col - (before.end - ln.start) + 1)))
            else:
                widths = [ln.tokens[-2].end - ln.start for ln in members]
                col = max(widths)
                for ln in members:
                    before, cmt = ln.tokens[-2], ln.tokens[-1]
                    edits.append((before.end, cmt.start, " " * (col - (before.end - ln.start) + 1)))
        text = _apply(text, edits)
    return text
