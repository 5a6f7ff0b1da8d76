"""Command groups of the ``cloudops`` CLI, one module each, thin over :mod:`cloudops.service`.

Each command builds a :class:`~cloudops.service.Caller` (the operator, acting for
``--tenant``), calls one use case and prints its result; a service error becomes one
line on stderr and exit status 2 (see :func:`cloudops.cli.main`).
"""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``tenants``, ``sources``, ``files``, ``periods``, ``recommendations``, ``targets`` and ``dlq`` to ``app``."""
    from cloudops.commands.dlq import dlq_app
    from cloudops.commands.files import files_app
    from cloudops.commands.periods import periods_app
    from cloudops.commands.recommendations import recommendations_app
    from cloudops.commands.sources import sources_app
    from cloudops.commands.targets import targets_app
    from cloudops.commands.tenants import tenants_app

    app.add_typer(tenants_app, name="tenants")
    app.add_typer(sources_app, name="sources")
    app.add_typer(files_app, name="files")
    app.add_typer(periods_app, name="periods")
    app.add_typer(recommendations_app, name="recommendations")
    app.add_typer(targets_app, name="targets")
    app.add_typer(dlq_app, name="dlq")
