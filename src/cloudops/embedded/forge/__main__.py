"""``python -m cloudops.embedded.forge --repo-dir D [--port P] --token T [--seed OWNER/REPO=DIR ...]``.

Serves the bare repositories under ``D`` (``D/<owner>/<repo>.git``) on 127.0.0.1 until
SIGINT/SIGTERM. ``--seed`` creates a repository from a directory (one initial commit on
``main``) unless it exists already. Prints one line ``forge listening on http://127.0.0.1:P``
(flushed) once it accepts connections, so a parent process can read the port.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from cloudops.embedded.forge.server import LocalForge

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m cloudops.embedded.forge", description=__doc__.splitlines()[0])
    parser.add_argument("--repo-dir", type=Path, required=True, help="directory holding <owner>/<repo>.git")
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--token", required=True, help="the one API token the forge accepts")
    parser.add_argument("--user", default="cloudops-bot", help="login the token authenticates as")
    parser.add_argument(
        "--seed", action="append", default=[], metavar="OWNER/REPO=DIR", help="create OWNER/REPO from DIR if missing"
    )
    return parser


async def _serve(forge: LocalForge) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await forge.serve(stop, on_ready=lambda: print(f"forge listening on {forge.base_url}", flush=True))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.repo_dir.mkdir(parents=True, exist_ok=True)
    forge = LocalForge(args.repo_dir, token=args.token, user=args.user, port=args.port)
    for spec in args.seed:
        full_name, sep, directory = spec.partition("=")
        owner, slash, name = full_name.partition("/")
        if not sep or not slash:
            print(f"--seed wants OWNER/REPO=DIR, got {spec!r}", file=sys.stderr)
            return 2
        try:
            forge.repository(owner, name)
        except KeyError:
            forge.create_repository(owner, name, seed_dir=Path(directory))
    asyncio.run(_serve(forge))
    return 0


if __name__ == "__main__":
    sys.exit(main())
