"""From a state address to the file, block and argument to edit in the HCL source.

:class:`Repository` reads a customer's configuration (a directory of ``.tf`` files,
local modules under it) and keeps edited texts in memory; nothing is ever written to
disk. Every ``.tf`` file of a module directory that is consulted is parsed with
python-hcl2 (what the configuration says) and with :mod:`cloudops.terraform._syntax`
(where it says it, as exact offsets, with brace matching that respects strings,
heredocs and comments).

:func:`locate_attribute` decides where the edit for one argument goes:

* a root resource: its block; the argument's literal is replaced in place, or a new
  line is inserted when the argument is absent. An argument set from ``var.X``,
  ``local.X`` or any other expression is not addressable (we never edit variable
  defaults, tfvars or expressions) and the reason names the variable.
* a resource inside a module: the module call chain is resolved from the state's
  module path (``module "db" { source = "./modules/rds" }``, local sources only;
  registry, git or other remote sources are not addressable). When the module sets the
  argument from ``var.X`` and the calling block sets input ``X`` to a literal, the edit
  goes to that input line of the call (walking up nested modules through ``var``
  pass-through). Any other case inside a module is not addressable: editing a module's
  own source would change every caller.

Contract: reads files under ``root`` only (never follows a module source outside it);
raises :class:`~cloudops.terraform.outcome.NotAddressableError` with codes
``syntax_error``, ``not_in_config``, ``in_module_not_addressable``,
``set_from_variable``, ``set_from_expression`` or ``unsupported``. Not thread-safe per
instance (a Repository caches parses); use one per request.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import hcl2

from cloudops.terraform._syntax import (
    Attribute,
    Block,
    HclLexError,
    Token,
    find_attribute,
    find_blocks,
    line_of,
    tokenize,
)
from cloudops.terraform.outcome import NotAddressableError
from cloudops.terraform.state import StateMatch

__all__ = [
    "EditTarget",
    "Repository",
    "ResourceBlock",
    "check_single_state",
    "locate_attribute",
    "locate_resource",
    "module_directories",
    "parse_hcl",
]

_ARGUMENT_NAME = re.compile(r"[^\W\d][\w-]*")


class Repository:
    """A configuration directory plus in-memory edits. Paths are POSIX, relative to ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._texts: dict[str, str] = {}
        self._edited: dict[str, str] = {}
        self._tokens: dict[tuple[str, str], list[Token]] = {}
        self._parsed: dict[tuple[str, str], dict[str, Any]] = {}

    # ----------------------------------------------------------------- files
    def _path(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if path != self.root and self.root not in path.parents:
            raise NotAddressableError("unsupported", f"{rel} is outside the repository")
        return path

    def is_dir(self, rel: str) -> bool:
        return self._path(rel).is_dir()

    def files(self, directory: str, suffix: str = ".tf") -> list[str]:
        """Sorted files of ``directory`` (not recursive) ending in ``suffix``."""
        base = self._path(directory)
        if not base.is_dir():
            return []
        names = sorted(p.name for p in base.iterdir() if p.is_file() and p.name.endswith(suffix))
        return [posixpath.normpath(posixpath.join(directory, n)) for n in names]

    def original(self, rel: str) -> str:
        """The file as it is on disk (newlines kept exactly)."""
        if rel not in self._texts:
            try:
                with self._path(rel).open(encoding="utf-8", newline="") as fh:
                    self._texts[rel] = fh.read()
            except UnicodeDecodeError as exc:
                raise NotAddressableError("syntax_error", f"{rel} is not UTF-8 text: {exc}") from exc
        return self._texts[rel]

    def read(self, rel: str) -> str:
        """The file's current text: the in-memory edit if any, else the file on disk."""
        return self._edited[rel] if rel in self._edited else self.original(rel)

    def write(self, rel: str, text: str) -> None:
        """Record an edit in memory (the disk is never written)."""
        self._edited[rel] = text

    @property
    def edited(self) -> dict[str, str]:
        """Edited files whose text differs from the disk: {relative path: new text}."""
        return {rel: text for rel, text in self._edited.items() if text != self.original(rel)}

    # ----------------------------------------------------------------- parsing
    def tokens(self, rel: str) -> list[Token]:
        """Tokens of the current text; raises NotAddressableError(syntax_error)."""
        text = self.read(rel)
        key = (rel, text)
        if key not in self._tokens:
            try:
                self._tokens[key] = tokenize(text)
            except HclLexError as exc:
                raise NotAddressableError("syntax_error", f"{rel} line {exc.line}: {exc.message}") from exc
        return self._tokens[key]

    def parsed(self, rel: str) -> dict[str, Any]:
        """python-hcl2's view of the current text; raises NotAddressableError(syntax_error)."""
        text = self.read(rel)
        key = (rel, text)
        if key not in self._parsed:
            self._parsed[key] = parse_hcl(rel, text)
            self.tokens(rel)
        return self._parsed[key]

    def check_directory(self, directory: str) -> None:
        """Parse every ``.tf`` file of ``directory``; raises NotAddressableError(syntax_error) on the first bad one."""
        for rel in self.files(directory):
            self.parsed(rel)


def parse_hcl(rel: str, text: str) -> dict[str, Any]:
    """Parse with python-hcl2; any parser failure becomes NotAddressableError(syntax_error) naming file and line."""
    try:
        result = hcl2.loads(text)
    except Exception as exc:
        line = getattr(exc, "line", None)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = f"{rel} line {line}" if isinstance(line, int) and line > 0 else rel
        raise NotAddressableError("syntax_error", f"{where} does not parse as HCL: {first}") from exc
    if not isinstance(result, dict):  # pragma: no cover - hcl2 always returns a dict for a body
        raise NotAddressableError("syntax_error", f"{rel} does not parse as an HCL body")
    return result


def _unquote(label: str) -> str:
    return label[1:-1] if len(label) >= 2 and label[0] == label[-1] == '"' else label


def _declares(parsed: dict[str, Any], block_type: str, labels: tuple[str, ...]) -> bool:
    """Whether python-hcl2's output of one file has a block ``block_type "l1" "l2" {}``."""
    for entry in parsed.get(block_type, []) or []:
        node: Any = entry
        for label in labels:
            if not isinstance(node, dict):
                break
            node = next((v for k, v in node.items() if _unquote(k) == label), None)
            if node is None:
                break
        else:
            return True
    return False


@dataclass(frozen=True, slots=True)
class ResourceBlock:
    """A block's exact place in a file."""

    address: str
    """Configuration address: ``aws_ebs_volume.data``, ``module.db.aws_db_instance.this`` or ``module.db``."""
    file: str
    start: int
    end: int
    """``text[start:end]`` is the block, from its keyword to its closing brace."""
    start_line: int
    end_line: int
    block: Block


@dataclass(frozen=True, slots=True)
class EditTarget:
    """Where the edit for one argument goes."""

    resource: ResourceBlock
    """The resource block the recommendation is about."""
    block: ResourceBlock
    """The block to edit: the resource block itself, or the module call that sets the input."""
    attribute: str
    """Argument name in ``block`` (the module input name when ``via_module_input``)."""
    existing: Attribute | None
    """The argument as it is now; None means a new line is inserted."""
    via_module_input: bool
    explanation: str
    """How the edit reaches the resource, for the PR text."""
    kind: Literal["replace", "insert"]


def _find_block(
    repo: Repository, directory: str, block_type: str, labels: tuple[str, ...], address: str
) -> ResourceBlock:
    repo.check_directory(directory)
    hits: list[tuple[str, Block]] = []
    for rel in repo.files(directory):
        if not _declares(repo.parsed(rel), block_type, labels):
            continue
        tokens = repo.tokens(rel)
        blocks = [b for b in find_blocks(tokens, block_type) if b.labels == labels]
        if not blocks:
            raise NotAddressableError(
                "unsupported", f"{rel} declares {address} but its block text could not be located"
            )
        hits.extend((rel, b) for b in blocks)
    if not hits:
        for rel in repo.files(directory, ".tf.json"):
            try:
                doc = json.loads(repo.read(rel))
            except ValueError as exc:
                raise NotAddressableError("syntax_error", f"{rel} is not valid JSON: {exc}") from exc
            node: Any = doc.get(block_type) if isinstance(doc, dict) else None
            for label in labels:
                node = node.get(label) if isinstance(node, dict) else None
            if node is not None:
                raise NotAddressableError(
                    "unsupported", f"{address} is declared in {rel} (JSON syntax); cloudops edits native .tf files only"
                )
        where = directory if directory != "." else "the repository root"
        raise NotAddressableError("not_in_config", f"no block for {address} in the .tf files of {where}")
    if len(hits) > 1:
        files = ", ".join(sorted({rel for rel, _ in hits}))
        override = any(Path(rel).stem == "override" or Path(rel).stem.endswith("_override") for rel, _ in hits)
        why = "an override file changes it" if override else "it is declared more than once"
        raise NotAddressableError("unsupported", f"{address} appears in several blocks ({files}); {why}")
    rel, block = hits[0]
    text = repo.read(rel)
    return ResourceBlock(
        address=address,
        file=rel,
        start=block.start,
        end=block.end,
        start_line=text.count("\n", 0, block.start) + 1,
        end_line=text.count("\n", 0, block.close_brace) + 1,
        block=block,
    )


def _attribute(repo: Repository, rb: ResourceBlock, name: str) -> Attribute | None:
    text = repo.read(rb.file)
    attr = find_attribute(text, repo.tokens(rb.file), rb.block, name)
    return attr


@dataclass(frozen=True, slots=True)
class _Level:
    directory: str
    call: ResourceBlock | None
    """The module call block (in the parent level's directory) that instantiates this directory."""


def _module_levels(repo: Repository, match: StateMatch) -> list[_Level]:
    levels = [_Level(".", None)]
    prefix = ""
    for name in match.module_path:
        parent = levels[-1].directory
        address = f"{prefix}module.{name}"
        call = _find_block(repo, parent, "module", (name,), address)
        source_attr = _attribute(repo, call, "source")
        if source_attr is None or source_attr.kind != "string" or source_attr.value is None:
            raise NotAddressableError(
                "in_module_not_addressable", f"{address} ({call.file}:{call.start_line}) has no literal `source`"
            )
        source = source_attr.value
        if not (source.startswith("./") or source.startswith("../")):
            raise NotAddressableError(
                "in_module_not_addressable",
                f'{address} ({call.file}:{call.start_line}) uses source "{source}", which is not a local path; '
                "cloudops only edits modules stored in this repository",
            )
        directory = posixpath.normpath(posixpath.join(parent, source))
        if directory == ".." or directory.startswith("../") or not repo.is_dir(directory):
            raise NotAddressableError(
                "in_module_not_addressable", f'{address} source "{source}" is not a directory inside the repository'
            )
        levels.append(_Level(directory, call))
        prefix = f"{address}."
    return levels


def module_directories(repo: Repository, match: StateMatch) -> list[str]:
    """The directories from the root to the module that declares the state's resource; raises NotAddressableError."""
    return [level.directory for level in _module_levels(repo, match)]


def locate_resource(repo: Repository, match: StateMatch) -> ResourceBlock:
    """The block that declares the state's resource; raises NotAddressableError."""
    levels = _module_levels(repo, match)
    return _find_block(repo, levels[-1].directory, "resource", (match.type, match.name), match.config_address)


def _variable_location(repo: Repository, directory: str, name: str) -> str | None:
    for rel in repo.files(directory):
        for block in find_blocks(repo.tokens(rel), "variable"):
            if block.labels == (name,):
                return f"{rel}:{line_of(repo.read(rel), block.start)}"
    return None


def _describe_variable(repo: Repository, directory: str, name: str) -> str:
    for rel in repo.files(directory):
        for block in find_blocks(repo.tokens(rel), "variable"):
            if block.labels == (name,):
                text = repo.read(rel)
                rb_line = text.count("\n", 0, block.start) + 1
                default = find_attribute(text, repo.tokens(rel), block, "default")
                shown = f", default {default.value_text}" if default else ", no default"
                return f'variable "{name}" ({rel}:{rb_line}{shown})'
    return f'variable "{name}"'


def _describe_local(repo: Repository, directory: str, name: str) -> str:
    for rel in repo.files(directory):
        for block in find_blocks(repo.tokens(rel), "locals"):
            attr = find_attribute(repo.read(rel), repo.tokens(rel), block, name)
            if attr:
                return f"local.{name} ({rel}:{attr.line}: {_short(attr.value_text)})"
    return f"local.{name}"


def _short(expr: str, limit: int = 80) -> str:
    one = " ".join(expr.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def _not_literal(repo: Repository, directory: str, where: str, attr: Attribute) -> NotAddressableError:
    if attr.kind == "variable" and attr.value:
        tfvars = [rel for rel in repo.files(directory, ".tfvars") if rel.endswith(("terraform.tfvars", ".auto.tfvars"))]
        extra = f"; values may also come from {', '.join(tfvars)}" if tfvars else ""
        return NotAddressableError(
            "set_from_variable",
            f"{where} is set from var.{attr.value} by {_describe_variable(repo, directory, attr.value)}{extra}; "
            "cloudops does not edit variable defaults or tfvars",
            location=(tfvars[0] if tfvars else _variable_location(repo, directory, attr.value)),
        )
    if attr.kind == "local" and attr.value:
        return NotAddressableError(
            "set_from_expression",
            f"{where} is set from {_describe_local(repo, directory, attr.value)}; cloudops only edits literal values",
        )
    return NotAddressableError(
        "set_from_expression",
        f"{where} is set by the expression `{_short(attr.value_text)}`; cloudops only edits literals",
        location=where[where.rfind("(") + 1 : -1] if where.endswith(")") else None,
    )


def _check_lifecycle(repo: Repository, resource: ResourceBlock, attribute: str) -> None:
    """Refuse when the resource's ``lifecycle { ignore_changes = [...] }`` names ``attribute`` (or is ``all``)."""
    text, tokens = repo.read(resource.file), repo.tokens(resource.file)
    for life in find_blocks(tokens, "lifecycle", within=resource.block):
        ignore = find_attribute(text, tokens, life, "ignore_changes")
        if ignore is None:
            continue
        names = {
            t.text if t.kind == "ident" else t.text.strip('"')
            for t in tokens
            if ignore.value_start <= t.start < ignore.value_end and t.kind in ("ident", "string")
        }
        if attribute in names or "all" in names:
            raise NotAddressableError(
                "ignored_by_lifecycle",
                f"{resource.address} ({resource.file}:{ignore.line}) has lifecycle ignore_changes = "
                f"{_short(ignore.value_text)}: Terraform would not apply a change of {attribute}, so the pull "
                "request would change nothing. Remove it from ignore_changes (or change the resource outside "
                "Terraform) first",
                location=f"{resource.file}:{ignore.line}",
            )


def _var_references(repo: Repository, directory: str, name: str) -> list[tuple[str, int, str]]:
    """Every ``var.<name>`` in the ``.tf`` files of ``directory``: (file, line, enclosing top-level block).

    References inside the ``variable "<name>"`` block itself (validation rules) do not count.
    """
    found: list[tuple[str, int, str]] = []
    for rel in repo.files(directory):
        text, tokens = repo.read(rel), repo.tokens(rel)
        tops = [
            b
            for kind in ("resource", "data", "module", "locals", "output", "variable", "provider", "terraform")
            for b in find_blocks(tokens, kind)
        ]
        for i in range(len(tokens) - 2):
            t, dot, ident = tokens[i], tokens[i + 1], tokens[i + 2]
            if not (t.kind == "ident" and t.text == "var" and dot.text == "." and ident.text == name):
                continue
            if i > 0 and tokens[i - 1].text == ".":
                continue  # e.g. local.var.x is not a variable reference
            owner = next((b for b in tops if b.start <= t.start < b.end), None)
            if owner is not None and owner.type == "variable" and owner.labels == (name,):
                continue
            label = " ".join([owner.type, *(f'"{x}"' for x in owner.labels)]) if owner else "top level"
            found.append((rel, line_of(text, t.start), label))
        # string templates: "${var.name}" inside a quoted string is one token
        for t in tokens:
            if t.kind in ("string", "heredoc") and re.search(rf"\bvar\.{re.escape(name)}\b", t.text):
                owner = next((b for b in tops if b.start <= t.start < b.end), None)
                label = " ".join([owner.type, *(f'"{x}"' for x in owner.labels)]) if owner else "top level"
                found.append((rel, line_of(text, t.start), label))
    return found


def _check_single_use(
    repo: Repository,
    directory: str,
    name: str,
    allowed: tuple[str, int],
    input_where: str,
    resource: str,
    location: str,
) -> None:
    """Refuse when ``var.<name>`` is read anywhere in ``directory`` besides ``allowed`` (file, line)."""
    others = [r for r in _var_references(repo, directory, name) if (r[0], r[1]) != allowed]
    if others:
        listed = "; ".join(f"{label} ({rel}:{line})" for rel, line, label in others[:5])
        raise NotAddressableError(
            "wider_effect",
            f"{input_where} feeds var.{name} of the module, which is also read by {listed}: changing it would change "
            f"more than {resource}. Give {resource} its own input (or change every user of it together)",
            location=location,
        )


_WORKSPACE_BACKENDS = ("workspaces", "workspace_key_prefix")


def check_single_state(repo: Repository, directories: list[str]) -> None:
    """Refuse a configuration that serves several states: one literal would change all of them.

    Signs (any): ``terraform.workspace`` in a ``.tf`` file of ``directories``; a
    ``terraform.tfstate.d`` directory (local workspaces); a backend or ``cloud`` block with
    ``workspaces``/``workspace_key_prefix``; more than one ``.tfvars`` file that Terraform
    does not load by itself (per-environment ``-var-file``s) in the root.
    """
    for directory in directories:
        for rel in repo.files(directory):
            text, tokens = repo.read(rel), repo.tokens(rel)
            for i in range(len(tokens) - 2):
                t = tokens[i]
                if (
                    t.kind == "ident"
                    and t.text == "terraform"
                    and tokens[i + 1].text == "."
                    and (tokens[i + 2].text == "workspace")
                ):
                    line = line_of(text, t.start)
                    raise NotAddressableError(
                        "multi_state",
                        f"{rel}:{line} reads terraform.workspace: the configuration serves several workspaces "
                        "(states) and cloudops read one; an edit here would change every workspace",
                        location=f"{rel}:{line}",
                    )
            for t in tokens:
                if t.kind in ("string", "heredoc") and "terraform.workspace" in t.text:
                    line = line_of(text, t.start)
                    raise NotAddressableError(
                        "multi_state",
                        f"{rel}:{line} interpolates terraform.workspace: the configuration serves several "
                        "workspaces and cloudops read one state",
                        location=f"{rel}:{line}",
                    )
            for tf in find_blocks(tokens, "terraform"):
                for kind in ("backend", "cloud"):
                    for backend in find_blocks(tokens, kind, within=tf):
                        body = text[backend.open_brace : backend.end]
                        if any(re.search(rf"\b{k}\b", body) for k in _WORKSPACE_BACKENDS):
                            line = line_of(text, backend.start)
                            raise NotAddressableError(
                                "multi_state",
                                f"{rel}:{line} configures workspaces on its {kind}: several states share this "
                                "configuration and cloudops read one",
                                location=f"{rel}:{line}",
                            )
    if repo.is_dir("terraform.tfstate.d"):
        raise NotAddressableError(
            "multi_state",
            "terraform.tfstate.d holds local workspaces: several states share this configuration and cloudops read one",
            location="terraform.tfstate.d",
        )
    var_files = [rel for rel in repo.files(".", ".tfvars") if not rel.endswith(("terraform.tfvars", ".auto.tfvars"))]
    if len(var_files) > 1:
        raise NotAddressableError(
            "multi_state",
            f"the root has per-environment var files ({', '.join(var_files)}): the same configuration is applied "
            "with each of them, so a literal edited here changes every environment",
            location=var_files[0],
        )


def locate_attribute(repo: Repository, match: StateMatch, attribute: str) -> EditTarget:
    """Where to write ``attribute`` for the state's resource (see module doc); raises NotAddressableError."""
    if not _ARGUMENT_NAME.fullmatch(attribute):
        raise NotAddressableError("unsupported", f"argument {attribute!r} is not a top-level argument name")
    levels = _module_levels(repo, match)
    resource = _find_block(repo, levels[-1].directory, "resource", (match.type, match.name), match.config_address)
    attr = _attribute(repo, resource, attribute)
    where = f"{match.config_address}.{attribute} ({resource.file}:{attr.line if attr else resource.start_line})"
    _check_lifecycle(repo, resource, attribute)
    if len(levels) == 1:
        if attr is None:
            return EditTarget(resource, resource, attribute, None, False, f"{resource.file}: new argument", "insert")
        if attr.kind in ("string", "number", "bool"):
            return EditTarget(resource, resource, attribute, attr, False, f"{resource.file}:{attr.line}", "replace")
        raise _not_literal(repo, ".", where, attr)

    # Inside a module: only a var.X pass-through from a literal module input is addressable.
    if attr is None or attr.kind != "variable" or attr.value is None:
        state = "is not set" if attr is None else f"is set to `{_short(attr.value_text)}`"
        raise NotAddressableError(
            "in_module_not_addressable",
            f"{where} {state} inside the module source {levels[-1].directory}, which every caller of the module "
            "shares; cloudops only edits a literal module input that the module passes through as var.X",
        )
    chain = [f"{match.config_address}.{attribute} = var.{attr.value} ({resource.file}:{attr.line})"]
    var_name = attr.value
    allowed: tuple[str, int] = (resource.file, attr.line)
    for depth in range(len(levels) - 1, 0, -1):
        call = levels[depth].call
        assert call is not None
        input_attr = _attribute(repo, call, var_name)
        input_where = (
            f"{call.address} input {var_name} ({call.file}:{input_attr.line if input_attr else call.start_line})"
        )
        if input_attr is None:
            raise NotAddressableError(
                "in_module_not_addressable",
                f"{chain[0]} but {call.address} ({call.file}:{call.start_line}) does not set input {var_name}, "
                "so the module's default applies; cloudops does not edit module defaults",
            )
        _check_single_use(
            repo,
            levels[depth].directory,
            var_name,
            allowed,
            input_where,
            match.config_address,
            f"{call.file}:{input_attr.line}",
        )
        if input_attr.kind in ("string", "number", "bool"):
            explanation = f"{input_where}, passed through to " + " <- ".join(chain)
            return EditTarget(resource, call, var_name, input_attr, True, explanation, "replace")
        if input_attr.kind == "variable" and input_attr.value and depth > 1:
            chain.insert(0, f"{call.address}.{var_name} = var.{input_attr.value} ({call.file}:{input_attr.line})")
            var_name = input_attr.value
            allowed = (call.file, input_attr.line)
            continue
        raise _not_literal(repo, levels[depth - 1].directory, input_where, input_attr)
    raise AssertionError("unreachable: the loop returns or raises at the root")  # pragma: no cover
