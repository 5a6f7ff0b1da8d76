"""REST routers of ``/v1`` (one module per area), thin over :mod:`cloudops.service`."""

from cloudops.api.rest import costs, dlq, ingest, recommendations, targets, tenants, tokens, uploads, webhooks

ROUTERS = [
    tenants.router,
    ingest.router,
    uploads.router,
    costs.router,
    recommendations.router,
    targets.router,
    dlq.router,
    tokens.router,
    webhooks.router,
]

__all__ = ["ROUTERS"]
