"""``load``: ``focus-batches`` -> ClickHouse, then ``billing-loaded`` receipts, by :mod:`cloudops.ingest.load`."""

from __future__ import annotations

import logging
from typing import Any

from cloudops.ingest.load import Loader
from cloudops.topics.runtime import Runtime

__all__ = ["register"]

log = logging.getLogger(__name__)


def register(app: Any, rt: Runtime) -> None:
    """Add the load agent and the sweep of complete period versions not yet swapped in to the app."""
    loader = Loader.connect(rt)
    rt.register(loader.handler(), name="cloudops.load")
    if rt.ledger is not None and rt.ledger.enabled:

        @app.timer(interval=rt.settings.load.sweep_interval_s)  # type: ignore[untyped-decorator]
        async def sweep_periods() -> None:
            try:
                await loader.promoter.sweep()
            except Exception as exc:  # the next tick tries again
                log.warning("load: period sweep failed: %s", exc)
