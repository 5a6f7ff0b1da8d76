"""Who reviews a change: the owners of the changed files in the repository's CODEOWNERS.

GitHub reads the first of ``.github/CODEOWNERS``, ``CODEOWNERS``, ``docs/CODEOWNERS``.
Each line is a gitignore-style pattern followed by owners (``@user``, ``@org/team`` or an
e-mail address); for each file the **last** matching line wins; a line with a pattern and
no owners means "no owner". :func:`owners_for` returns the owners of a set of paths:
user logins (without ``@``) and teams as ``org/team``, in file order; e-mail owners are left
out (the API needs logins).

Contract: pure apart from reading the CODEOWNERS file under ``root``; never raises for a
malformed line (it is skipped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CODEOWNERS_PATHS", "Owners", "owners_for", "parse_codeowners"]

CODEOWNERS_PATHS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
_OWNER = re.compile(r"^@([A-Za-z0-9](?:[A-Za-z0-9-]{0,38}))(?:/([A-Za-z0-9._-]+))?$")


@dataclass(frozen=True, slots=True)
class Owners:
    """Owners of some paths: ``users`` (logins) and ``teams`` (``org/team``); ``source`` is the CODEOWNERS path."""

    users: tuple[str, ...]
    teams: tuple[str, ...]
    source: str | None

    @property
    def reviewers(self) -> tuple[str, ...]:
        return (*self.users, *self.teams)


def _pattern(glob: str) -> re.Pattern[str]:
    """A CODEOWNERS (gitignore-style) pattern as a regex over repository-relative POSIX paths."""
    anchored = glob.startswith("/") or "/" in glob.rstrip("/")
    body = glob.strip("/")
    directory = glob.endswith("/")
    out = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            out.append(".*")
            i += 2
        elif body[i] == "*":
            out.append("[^/]*")
            i += 1
        elif body[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(body[i]))
            i += 1
    core = "".join(out)
    prefix = "" if anchored else "(?:.*/)?"
    suffix = "/.*" if directory else "(?:/.*)?"
    return re.compile(f"^{prefix}{core}{suffix}$")


def parse_codeowners(text: str) -> list[tuple[re.Pattern[str], tuple[str, ...]]]:
    """(pattern, owners) per rule line, in file order; comments, blank and malformed lines skipped."""
    rules: list[tuple[re.Pattern[str], tuple[str, ...]]] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        glob, *owners = line.split()
        if glob.startswith("!") or "[" in glob:
            continue  # negation and character classes are not supported by GitHub either
        rules.append((_pattern(glob), tuple(owners)))
    return rules


def owners_for(root: Path, paths: Iterable[str]) -> Owners:
    """The owners (last matching rule per path) of ``paths`` per the CODEOWNERS file under ``root``."""
    for rel in CODEOWNERS_PATHS:
        file = root / rel
        if file.is_file():
            rules = parse_codeowners(file.read_text(encoding="utf-8", errors="replace"))
            break
    else:
        return Owners((), (), None)
    users: list[str] = []
    teams: list[str] = []
    for path in paths:
        matched: tuple[str, ...] = ()
        for pattern, owners in rules:
            if pattern.match(path):
                matched = owners
        for owner in matched:
            m = _OWNER.match(owner)
            if not m:
                continue  # e-mail owners: no login to request
            if m.group(2):
                team = f"{m.group(1)}/{m.group(2)}"
                if team not in teams:
                    teams.append(team)
            elif m.group(1) not in users:
                users.append(m.group(1))
    return Owners(tuple(users), tuple(teams), rel)
