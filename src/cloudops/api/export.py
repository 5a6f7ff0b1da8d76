"""Write the API's committed contracts: ``python -m cloudops.api.export`` (from the repository root).

* ``docs/openapi.json``: the REST API's OpenAPI 3.1 document
* ``gateway/subgraphs/<name>.graphql``: each federation subgraph's SDL, which
  ``gateway/compose.mjs`` composes into ``gateway/supergraph.graphql`` (``npm run compose``)

Tests fail when a committed file differs from what the code generates (drift).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cloudops.settings import Settings

__all__ = ["main", "openapi_document", "openapi_text", "subgraph_sdls"]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the REST API (default settings: it does not depend on them)."""
    from cloudops.api.app import create_api

    return create_api(Settings(), graphql=False).openapi()


def openapi_text() -> str:
    """``docs/openapi.json`` as committed: sorted keys, two-space indent, final newline."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def subgraph_sdls() -> dict[str, str]:
    """Subgraph name -> SDL (limits do not show in SDL, so default settings are enough)."""
    from cloudops.api.graphql import SUBGRAPHS, build_schemas, subgraph_sdl

    schemas = build_schemas(Settings())
    return {name: subgraph_sdl(schemas[name]) for name in SUBGRAPHS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("."), help="The repository root.")
    args = parser.parse_args(argv)
    openapi = args.root / "docs" / "openapi.json"
    openapi.parent.mkdir(parents=True, exist_ok=True)
    openapi.write_text(openapi_text())
    print(f"wrote {openapi}")
    folder = args.root / "gateway" / "subgraphs"
    folder.mkdir(parents=True, exist_ok=True)
    for name, sdl in subgraph_sdls().items():
        (folder / f"{name}.graphql").write_text(sdl)
        print(f"wrote {folder / f'{name}.graphql'}")


if __name__ == "__main__":
    main()
