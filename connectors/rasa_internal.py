"""Endpoints only Rasa calls: custom actions and the callback channel's bot messages.

Both require the shared internal token in an `Authorization: Bearer` header, which Rasa's
`EndpointConfig` sends from the `headers:` of `bot/endpoints.yml` (action endpoint) and
`bot/credentials.yml` (callback channel). A token in the query string is refused, whatever
it is: query strings end up in access logs and proxy logs, so a token sent that way counts
as leaked. Rasa's own action server would accept anyone, so mounting the executor here also
closes that hole.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from rasa_sdk.interfaces import (
    ActionExecutionRejection,
    ActionMissingDomainException,
    ActionNotFoundException,
)
from starlette.concurrency import run_in_threadpool

from connectors.bridge import deliver_bot_message
from frontdesk import texts
from frontdesk.conversations import service as conversations
from frontdesk.language import DEFAULT_LANGUAGE, Language
from frontdesk.runtime import Services

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/internal/rasa", include_in_schema=False)
ACTION_FAILED_TEXT = "notice.action_failed"  # catalogue key (frontdesk.texts)


def _check_token(request: Request) -> Services:
    """The services, for a request that presents the internal token as a bearer header."""
    services: Services = request.app.state.services
    if "token" in request.query_params:
        logger.warning("refused an internal request with a token in its query string")
        raise HTTPException(status_code=403, detail="send the token in the Authorization header")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = services.settings.internal_token.get_secret_value()
    if scheme.lower() != "bearer" or not secrets.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise HTTPException(status_code=403, detail="forbidden")
    return services


@router.post("/callback")
async def rasa_callback(request: Request) -> dict[str, Any]:
    """A bot message from Rasa's callback channel: store it, then deliver it."""
    services = _check_token(request)
    try:
        body = await request.json()
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="invalid JSON") from exc
    if not isinstance(body, dict):
        raise HTTPException(status_code=400, detail="expected an object")
    delivered = await deliver_bot_message(services, body)
    return {"stored": delivered}


@router.post("/actions")
async def run_action(request: Request) -> JSONResponse:
    """Rasa's action endpoint, served by rasa-sdk's executor inside the service."""
    services = _check_token(request)
    executor = request.app.state.action_executor
    try:
        call = await request.json()
    except ValueError:
        return JSONResponse({"error": "Invalid body request"}, status_code=400)
    try:
        result = await executor.run(call)
    except ActionExecutionRejection as exc:
        return JSONResponse({"error": exc.message, "action_name": exc.action_name}, 400)
    except ActionNotFoundException as exc:
        logger.error("unknown action %s", exc.action_name)
        return JSONResponse({"error": exc.message, "action_name": exc.action_name}, 404)
    except ActionMissingDomainException as exc:
        return JSONResponse({"error": exc.message, "action_name": exc.action_name}, 449)
    except Exception as exc:
        # The exception text may quote patient data: log its type and the action only.
        logger.error(
            "action %s failed: %s",
            call.get("next_action") if isinstance(call, dict) else "?",
            type(exc).__name__,
            exc_info=logger.isEnabledFor(logging.DEBUG),
        )
        language = await run_in_threadpool(_language_of_call, services, call)
        failed = texts.text(ACTION_FAILED_TEXT, language)
        return JSONResponse({"events": _undo_extraction(call), "responses": [{"text": failed}]})
    return JSONResponse(result.model_dump() if result else None)


def _language_of_call(services: Services, call: Any) -> Language:
    """The language of the conversation an action call is about (its opaque sender id)."""
    tracker = call.get("tracker") if isinstance(call, dict) else None
    sender = tracker.get("sender_id") if isinstance(tracker, dict) else None
    if not isinstance(sender, str):
        return DEFAULT_LANGUAGE
    with services.unit_of_work() as db:
        conversation = conversations.get_conversation(session=db, public_id=sender)
        if conversation is None:
            return DEFAULT_LANGUAGE
        return conversations.reply_language(session=db, conversation=conversation)


def _undo_extraction(call: Any) -> list[dict[str, Any]]:
    """Events that keep a form from accepting a value its validator never checked.

    Rasa has already put the patient's raw text into the requested slot when the form's
    validation action runs; if that action fails, clear the slot so the form asks again.
    """
    if not isinstance(call, dict) or not str(call.get("next_action", "")).startswith("validate_"):
        return []
    slots = (call.get("tracker") or {}).get("slots") or {}
    requested = slots.get("requested_slot") if isinstance(slots, dict) else None
    if not isinstance(requested, str):
        return []
    return [{"event": "slot", "timestamp": None, "name": requested, "value": None}]
