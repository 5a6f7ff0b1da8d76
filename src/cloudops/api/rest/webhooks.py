"""``POST /v1/webhooks/github``: the PR loop's webhook (GitHub ``pull_request`` deliveries).

No bearer token: GitHub signs the raw body (``X-Hub-Signature-256``, HMAC-SHA256 under
``github.webhook_secret``), which the use case verifies before reading anything; a delivery
id seen before is acknowledged and ignored (replay-safe). 200: handled (recommendations
moved), 202: accepted and ignored (another event, a duplicate, a PR of no recommendation),
403: bad signature.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from cloudops.api.state import blocking, state_of
from cloudops.service.pull_requests import handle_github_webhook

__all__ = ["router"]

router = APIRouter(tags=["webhooks"])


class WebhookOut(BaseModel):
    message: str
    moved: list[dict[str, str | int]]


@router.post(
    "/v1/webhooks/github",
    response_model=WebhookOut,
    responses={202: {"model": WebhookOut, "description": "Accepted and ignored (or a duplicate delivery)."}},
    summary="GitHub pull_request webhook (signed, replay-safe)",
)
async def github_webhook(
    request: Request,
    x_github_event: Annotated[str, Header()] = "",
    x_github_delivery: Annotated[str, Header()] = "",
    x_hub_signature_256: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    body = await request.body()
    outcome = await blocking(
        handle_github_webhook,
        state_of(request).settings,
        event=x_github_event,
        delivery_id=x_github_delivery,
        signature=x_hub_signature_256,
        body=body,
    )
    moved: list[dict[str, str | int]] = [
        {"tenant": m.tenant, "fingerprint": m.fingerprint, "state": m.state, "pr_number": m.pr_number}
        for m in outcome.moved
    ]
    return JSONResponse(WebhookOut(message=outcome.message, moved=moved).model_dump(), status_code=outcome.status)
