"""Health endpoints for people, load balancers and orchestrators.

- `GET /livez`: the process answers. No I/O, so a slow database never gets a healthy process
  restarted; an orchestrator restarts the process only when this stops answering.
- `GET /readyz`: this replica can serve a turn end to end now — the database answers, Rasa
  has its model loaded, and no queue is wedged (an item due longer than
  `FRONTDESK_READY_MAX_QUEUE_AGE_SECONDS` with nobody picking it up). 200 when ready, 503
  with the failing checks otherwise; a load balancer routes by it.
- `GET /healthz`: unchanged for people and scripts (always 200, `status` "ok" or "degraded",
  `database`, `bot`, `version`), plus `rasa` — the supervised child's state and restart count
  under `frontdesk run` — and `fanout` (whether live updates reach the other replicas).

None of them shows a patient detail, a URL with credentials, or a token.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from frontdesk import __version__
from frontdesk.fanout import LiveChannels
from frontdesk.queues import QueueState, queue_states, wedged
from frontdesk.runtime import Services
from frontdesk.supervisor import RasaSupervisor

router = APIRouter(tags=["ops"])
DATABASE_TIMEOUT_SECONDS = 5.0


def _services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def supervisor_of(app: FastAPI) -> RasaSupervisor | None:
    """The Rasa child's supervisor when `frontdesk run` started Rasa, else None."""
    supervisor = getattr(app.state, "rasa_supervisor", None)
    return supervisor if isinstance(supervisor, RasaSupervisor) else None


def fanout_state(app: FastAPI) -> str:
    """ "in-process" (no Redis configured), "connected" or "disconnected"."""
    live = getattr(app.state, "live", None)
    if not isinstance(live, LiveChannels) or live.fanout is None:
        return "in-process"
    return "connected" if live.fanout.connected else "disconnected"


async def database_ok(services: Services) -> bool:
    """Whether the database answers `SELECT 1` in time (in a thread: never block the loop)."""

    def ping() -> None:
        with services.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(run_in_threadpool(ping), DATABASE_TIMEOUT_SECONDS)
    except Exception:  # reported, not raised: this is a health check
        return False
    return True


async def current_queues(services: Services) -> list[QueueState]:
    """Each queue's backlog now (raises if the database is unreachable)."""

    def read() -> list[QueueState]:
        with services.unit_of_work() as session:
            return queue_states(
                session=session,
                now=services.clock(),
                ehr=bool(services.settings.ehr_fhir_url.strip()),
            )

    return await asyncio.wait_for(run_in_threadpool(read), DATABASE_TIMEOUT_SECONDS)


@router.get("/livez")
async def livez() -> dict[str, str]:
    """The process answers (nothing else is checked)."""
    return {"status": "ok"}


@router.get("/readyz", response_model=None)
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: database, Rasa and the queues; 503 names what is not."""
    services = _services(request.app)
    database, bot_ready = await asyncio.gather(database_ok(services), services.bot.is_ready())
    checks: dict[str, Any] = {
        "database": "ok" if database else "unavailable",
        "bot": "ready" if bot_ready else "unavailable",
    }
    stuck: list[str] = []
    if database:
        try:
            states = await current_queues(services)
            stuck = wedged(states, limit_seconds=services.settings.ready_max_queue_age_seconds)
            checks["queues"] = {"wedged": stuck} if stuck else "ok"
        except Exception:  # the database went away between the two checks
            checks["queues"] = "unknown"
            database = False
    checks["fanout"] = fanout_state(request.app)  # shown, not required: see docs/operations.md
    ready = database and bot_ready and not stuck
    return JSONResponse(
        {"status": "ready" if ready else "not_ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, object]:
    """Liveness plus the state of the database and the bot (always 200; see `status`)."""
    services = _services(request.app)
    database = "ok" if await database_ok(services) else "unavailable"
    bot_ready = await services.bot.is_ready()
    supervisor = supervisor_of(request.app)
    return {
        "status": "ok" if database == "ok" else "degraded",
        "database": database,
        "bot": "ready" if bot_ready else "unavailable",
        "rasa": supervisor.status().as_json() if supervisor else {"supervised": False},
        "fanout": fanout_state(request.app),
        "version": __version__,
    }
