"""Faust agents: wiring only. Each decodes, calls the domain, sends or sinks, and classifies errors.

Agents never import each other; they talk through topics.
"""

ROLES = ("bridge", "schedule", "parse", "load", "recommend", "propose")

__all__ = ["ROLES"]
