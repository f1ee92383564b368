"""Typed handles on the app a `TestClient` drives.

The client types its app as any ASGI app and its event-loop portal as optional (it exists
only inside ``with TestClient(...)``); these helpers check both once, so tests need no
``type: ignore`` to reach the service's state.
"""

from __future__ import annotations

import time

from anyio.from_thread import BlockingPortal
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from frontdesk.conversations.models import PatientTurn, TurnState
from frontdesk.conversations.turn_queue import claimable
from frontdesk.runtime import Services


def app_of(client: TestClient) -> FastAPI:
    """The FastAPI app under test."""
    app = client.app
    assert isinstance(app, FastAPI), "these tests drive the frontdesk app"
    return app


def services_of(client: TestClient) -> Services:
    """The running app's services (bot, clock, event bus, unit of work)."""
    services: Services = app_of(client).state.services
    return services


def portal_of(client: TestClient) -> BlockingPortal:
    """The portal into the app's event loop, for calling its coroutines from a test."""
    portal = client.portal
    assert portal is not None, "use the client inside `with TestClient(...)`"
    return portal


def settle_turns(app: FastAPI, *, timeout: float = 10.0) -> None:
    """Wait until the turn dispatcher has nothing to do: no turn being sent, none claimable
    (the rest wait for a retry time the app's clock has not reached, or for an earlier turn)."""
    services = app.state.services
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with services.sessions() as db:
            busy = db.scalar(
                select(func.count())
                .select_from(PatientTurn)
                .where((PatientTurn.state == TurnState.SENDING) | claimable(services.clock()))
            )
        if not busy:
            return
        time.sleep(0.01)
    raise AssertionError("the turn dispatcher did not settle")
