"""The service API (L4): REST (``/v1``), GraphQL federation subgraphs, live subscriptions, auth.

Thin over :mod:`cloudops.service`: a handler authenticates the bearer token, turns it into a
:class:`~cloudops.service.context.Caller` bound to the token's tenant, calls one use case and
shapes the answer. No use case is written here. Build the ASGI app with
:func:`cloudops.api.app.create_api`; run it with ``cloudops api``.
"""
