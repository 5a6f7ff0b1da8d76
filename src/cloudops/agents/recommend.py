"""``recommend``: ``billing-loaded`` and ``billing-periods`` -> ``recommendations``, by
:mod:`cloudops.ingest.recommend`."""

from __future__ import annotations

from typing import Any

from cloudops.ingest.recommend import Recommender
from cloudops.topics.runtime import Runtime

__all__ = ["register"]


def register(app: Any, rt: Runtime) -> None:
    """Add the recommend agent (one per input topic) to the app."""
    loaded, swapped = Recommender.connect(rt).handlers()
    rt.register(loaded, name=f"cloudops.recommend.{loaded.spec.name}")
    rt.register(swapped, name=f"cloudops.recommend.{swapped.spec.name}")
