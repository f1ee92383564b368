"""The FastAPI application: channels, internal Rasa endpoints, JSON API, widget and demo."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib import resources

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.middleware.trustedhost import TrustedHostMiddleware

import knowledge
from actions import build_executor
from actions.context import ActionContext, PaymentLinks
from connectors import rasa_internal, twilio_sms
from connectors.dispatcher import TurnDispatcher
from connectors.rasa import RasaClient
from connectors.webchat.frame import router as webchat_frame_router
from connectors.webchat.shared_sockets import open_socket_counter
from connectors.webchat.socket import router as webchat_router
from frontdesk import __version__
from frontdesk.admin.knowledge import router as admin_knowledge_router
from frontdesk.admin.practice_pages import router as admin_practice_router
from frontdesk.admin.staff import router as admin_staff_router
from frontdesk.api import router as api_router
from frontdesk.audit.routes import router as audit_router
from frontdesk.audit.service import audit_key_for, use_audit_key
from frontdesk.auth.headers import SecurityHeaders
from frontdesk.auth.routes import router as auth_router
from frontdesk.bot import BotClient
from frontdesk.clock import Clock, system_clock
from frontdesk.console.routes import router as console_router
from frontdesk.db import make_engine, make_session_factory
from frontdesk.ehr.tasks import EhrSync
from frontdesk.fanout import open_live_channels
from frontdesk.health import router as health_router
from frontdesk.insights.routes import router as insights_router
from frontdesk.language import warm_up as warm_up_language
from frontdesk.leader import LeaderJobs, PeriodicJob, elector_for
from frontdesk.metrics import MeteredBot
from frontdesk.metrics import install as install_metrics
from frontdesk.metrics import router as metrics_router
from frontdesk.periodic import EhrPullJob, HousekeepingJob, RemindersJob, only_on_leader
from frontdesk.reminders.scheduler import outreach_bot_client
from frontdesk.review.recording import ReviewRecorder
from frontdesk.review.routes import router as review_router
from frontdesk.review.tracker import TrackerReader
from frontdesk.runtime import Services
from frontdesk.scheduling.waitlist_policy import WaitlistPolicy
from frontdesk.settings import Settings, get_settings
from frontdesk.sms.lifecycle import start_sms, stop_sms
from frontdesk.wiring import connect_ports

logger = logging.getLogger(__name__)
STATIC = resources.files("frontdesk") / "web" / "static"


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    bot: BotClient | None = None,
    clock: Clock = system_clock,
    tracker: TrackerReader | None = None,
) -> FastAPI:
    """Build the service. Everything outside (database, Rasa, clock) can be injected.

    With a bot double and no `tracker`, turns are not recorded for review (no tracker exists).
    """
    settings = settings or get_settings()
    connect_ports()
    use_audit_key(audit_key_for(settings))  # the audit chain's key lives here, not in the DB

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        db_engine = engine or make_engine(settings.sqlalchemy_url, **settings.engine_options)
        # An injected bot (a test double) is used as given; the real client is metered.
        bot_client = bot or MeteredBot(
            RasaClient(
                settings.rasa_url,
                settings.rasa_token.get_secret_value(),
                timeout=settings.rasa_timeout_seconds,
            ),
            app.state.metrics,
        )
        # One process: its own sockets and subscribers; with FRONTDESK_REDIS_URL, the same two
        # interfaces fan out through Redis to the other replicas.
        live = await open_live_channels(settings.redis_url, prefix=settings.redis_channel_prefix)
        services = Services(
            settings=settings,
            engine=db_engine,
            sessions=make_session_factory(db_engine, clock=clock),
            bot=bot_client,
            hub=live.hub,
            events=live.events,
            clock=clock,
        )
        if tracker is not None or bot is None:
            services.review = ReviewRecorder(
                tracker or TrackerReader(settings.rasa_url, settings.rasa_token.get_secret_value()),
                services.sessions,
                threshold=settings.review_confidence_threshold,
            )
        app.state.live = live
        # Open web chat sockets per address: counted over every replica when Redis is set.
        sockets = await open_socket_counter(
            settings.redis_url, prefix=settings.redis_channel_prefix
        )
        app.state.webchat_sockets = sockets
        app.state.services = services
        # The language detector loads in about a second: off the loop, before the first message.
        asyncio.get_running_loop().run_in_executor(None, warm_up_language)
        # Patient turns, from the durable queue to Rasa: one in flight per conversation.
        app.state.turns = TurnDispatcher(services, workers=settings.turn_workers)
        services.wake_turns = app.state.turns.wake
        app.state.turns.start()
        app.state.action_executor = build_executor(
            ActionContext(
                sessions=services.sessions,
                clock=clock,
                payment_links=PaymentLinks.from_settings(settings),
                waitlist=WaitlistPolicy.from_settings(settings),
                # Opened on the first question, not at start-up (it loads the vector store).
                knowledge_base=lambda: knowledge.shared_knowledge_base(settings),
            )
        )
        # The EHR outbox worker runs in every replica; it starts only with an EHR configured.
        app.state.ehr_sync = EhrSync(settings=settings, sessions=services.sessions, clock=clock)
        app.state.ehr_sync.start(pull=False)
        # The SMS outbox worker and pending-inbound retries, then reminders, which wake it.
        sms_channel = await start_sms(
            services.settings,
            sessions=services.sessions,
            clock=services.clock,
            # Handing on stored texts is a periodic pass too: the leader's alone.
            retry_pending=only_on_leader(
                lambda: app.state.leader.running, partial(twilio_sms.retry_pending, app)
            ),
        )
        app.state.sms = sms_channel  # the webhooks wake its worker
        # Periodic jobs run once per deployment: on the replica holding the leader lock.
        outreach_bot = bot or outreach_bot_client(settings)  # its own pool, not the turns'
        periodic: list[PeriodicJob] = [
            RemindersJob(
                services.settings,
                engine=services.engine,
                sessions=services.sessions,
                clock=services.clock,
                bot=outreach_bot,
                on_queued=sms_channel.worker.wake,
            ),
            EhrPullJob(app.state.ehr_sync),
        ]
        if settings.env != "test":  # tracker retention daily, demo knowledge warmed
            periodic.append(HousekeepingJob(settings, clock=clock))
        app.state.leader = LeaderJobs(
            elector_for(db_engine), periodic, check_seconds=settings.leader_check_seconds
        )
        await app.state.leader.start()
        try:
            yield
        finally:
            await app.state.turns.stop()
            await app.state.leader.stop()
            await app.state.ehr_sync.stop()
            await stop_sms(sms_channel)
            await live.close()
            await sockets.close()
            if services.review is not None:
                await services.review.aclose()
            if bot is None:
                await bot_client.aclose()
                await outreach_bot.aclose()
            if own_engine:
                db_engine.dispose()

    docs = settings.serves_api_docs  # a map of every endpoint: off in production by default
    app = FastAPI(
        title="Frontdesk",
        version=__version__,
        lifespan=lifespan,
        docs_url="/api/docs" if docs else None,
        redoc_url=None,
        openapi_url="/api/openapi.json" if docs else None,
    )
    app.include_router(webchat_router)
    app.include_router(webchat_frame_router)  # /chat/frame, the page the widget frames
    app.include_router(rasa_internal.router)
    app.include_router(twilio_sms.router)
    app.include_router(api_router)
    app.include_router(health_router)  # /livez, /readyz, /healthz
    app.include_router(metrics_router)  # /metrics (bearer token)
    install_metrics(app)
    app.include_router(auth_router)  # /console/login, /console/logout
    app.include_router(audit_router)  # /console/audit (admins)
    app.include_router(insights_router)  # /console/insights (admins, managers)
    app.include_router(admin_practice_router)  # /console/admin practice set-up (admins)
    app.include_router(admin_staff_router)  # /console/admin/staff, /console/welcome/<link>
    app.include_router(admin_knowledge_router)  # /console/admin/knowledge
    app.include_router(review_router)  # /console/review (admins, managers, front desk)
    app.include_router(console_router)  # staff console: queue, conversations, live updates
    # CSP, nosniff, no framing, HSTS on https, on every response; no-store on the console.
    app.add_middleware(SecurityHeaders, https=settings.base_url.startswith("https://"))
    # Outermost: a request naming another host (DNS rebinding, a tunnel, a proxy forwarding its
    # own name) is refused before any route sees it.
    app.add_middleware(
        TrustedHostMiddleware, allowed_hosts=settings.trusted_hosts, www_redirect=False
    )
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/widget.js", include_in_schema=False)
    async def widget() -> FileResponse:
        """The embeddable chat widget."""
        return FileResponse(
            str(STATIC / "widget.js"),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=300"},
        )

    @app.get("/demo", include_in_schema=False)
    async def demo() -> FileResponse:
        """A host page for the demo practice with the widget on it."""
        return FileResponse(str(STATIC / "demo.html"), media_type="text/html")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/demo")

    return app
