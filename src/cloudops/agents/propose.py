"""``propose``: ``recommendations`` -> pull requests, by :mod:`cloudops.ingest.propose`."""

from __future__ import annotations

from typing import Any

from cloudops.ingest.propose import Proposer
from cloudops.topics.runtime import Runtime

__all__ = ["register"]


def register(app: Any, rt: Runtime) -> Proposer:
    """Add the propose agent to the app."""
    proposer = Proposer(rt)
    rt.register(proposer.handler(), name="cloudops.propose")
    return proposer
