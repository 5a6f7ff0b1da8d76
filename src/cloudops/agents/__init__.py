"""Faust agents: wiring only. Each binds a topic (or a timer, or a queue poller) to the ingest flow
(:mod:`cloudops.ingest`) through the runtime's one handler (decode -> process -> classify ->
dead-letter, :class:`cloudops.topics.runtime.Handler`).

Agents never import each other (they talk through topics) nor a sink (SQL stays behind ingest/
and the service layer); both enforced by import-linter.
"""

ROLES = ("bridge", "schedule", "parse", "load", "recommend", "propose")

__all__ = ["ROLES"]
