"""Prometheus metrics at `GET /metrics`, for operators; PHI-free by construction.

Every label value comes from a fixed set written here (queue names, outcomes, reminder kinds):
never a conversation id, phone number, name or message text. Access takes a bearer token
(`FRONTDESK_METRICS_TOKEN`, what Prometheus sends with `authorization: {credentials: ...}`);
without one configured the endpoint answers 404. A token, rather than "internal only", because
behind a same-host proxy every client looks internal.

What is measured, and where it comes from:
- `frontdesk_turn_seconds` (histogram, by outcome): a patient turn handed to Rasa until Rasa
  answered it (its replies arrive through the callback before the turn returns). This process.
- `frontdesk_bot_calls_total` (by call and outcome): reminders' `trigger_intent`, pause, resume,
  and `tracker` (the turn dispatcher's check before a retry).
- `frontdesk_queue_depth`, `frontdesk_queue_oldest_age_seconds`, `frontdesk_queue_overdue_seconds`
  (by queue: patient_turns, sms_outbox, sms_inbound, ehr_outbox): read from the database at
  scrape time, so they are the deployment's — every replica reports the same value; aggregate
  with max(). `patient_turns` is the durable turn queue: its oldest age is how long the longest
  waiting patient has waited for the bot.
- `frontdesk_reminders_sent_total` (by kind): reminder rows handed to the SMS outbox, from the
  database (deployment-wide, as above).
- `frontdesk_rasa_up`, `frontdesk_rasa_restarts_total`: whether Rasa answers with a model, and
  how often `frontdesk run` restarted its child.
- `frontdesk_nlu_fallback_rate` (by practice, window: day / first_week) and
  `frontdesk_nlu_drift_alert` (by practice): the NLU's drift (frontdesk/review/drift.py).
- `frontdesk_leader` (1 on the replica running the periodic jobs), `frontdesk_fanout_connected`,
  `frontdesk_fanout_messages_total` (published, received, dropped).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from frontdesk import __version__
from frontdesk.bot import BotClient, BotUnavailableError
from frontdesk.queues import dead_letters, queue_states
from frontdesk.reminders.models import ReminderKind, ReminderStatus, ScheduledReminder
from frontdesk.review.drift import drift_metrics
from frontdesk.runtime import Services

router = APIRouter(tags=["ops"], include_in_schema=False)
TURN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One app's metrics, in a registry of its own (several apps may live in one process)."""

    def __init__(self) -> None:
        """Create the registry and the instruments this process updates itself."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.turn_seconds = Histogram(
            "frontdesk_turn_seconds",
            "A patient turn handed to Rasa until Rasa answered it",
            ["outcome"],
            buckets=TURN_BUCKETS,
            registry=self.registry,
        )
        self.bot_calls = Counter(
            "frontdesk_bot_calls",
            "Calls to Rasa other than patient turns",
            ["call", "outcome"],
            registry=self.registry,
        )
        self.rasa_up = 0.0  # refreshed on each scrape, before the registry is read


class MeteredBot:
    """A `BotClient` that times each turn and counts the other calls, then delegates."""

    def __init__(self, inner: BotClient, metrics: Metrics) -> None:
        """Wrap `inner` (the real Rasa client)."""
        self.inner = inner
        self._metrics = metrics

    async def send_user_turn(
        self,
        conversation_id: str,
        text: str,
        *,
        message_id: str | None = None,
        language: str | None = None,
    ) -> None:
        """Hand a turn on; observed as "ok" or "unavailable" (the error still propagates)."""
        started = time.monotonic()
        outcome = "unavailable"
        try:
            await self.inner.send_user_turn(
                conversation_id, text, message_id=message_id, language=language
            )
            outcome = "ok"
        finally:
            self._metrics.turn_seconds.labels(outcome).observe(time.monotonic() - started)

    async def has_user_turn(self, conversation_id: str, message_id: str) -> bool:
        """Read the tracker for a turn (before a retry), counted."""
        pending = self.inner.has_user_turn(conversation_id, message_id)
        try:
            found = await pending
        except BotUnavailableError:
            self._metrics.bot_calls.labels("tracker", "unavailable").inc()
            raise
        self._metrics.bot_calls.labels("tracker", "ok").inc()
        return found

    async def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> None:
        """Trigger an intent (reminders, hand-back), counted."""
        pending = self.inner.trigger_intent(conversation_id, intent, entities)
        await self._count("trigger_intent", pending)

    async def pause(self, conversation_id: str) -> None:
        """Pause the bot in a conversation, counted."""
        await self._count("pause", self.inner.pause(conversation_id))

    async def resume(self, conversation_id: str) -> None:
        """Resume the bot in a conversation, counted."""
        await self._count("resume", self.inner.resume(conversation_id))

    async def is_ready(self) -> bool:
        """Whether Rasa is up with a model."""
        return await self.inner.is_ready()

    async def aclose(self) -> None:
        """Close the inner client."""
        await self.inner.aclose()

    async def _count(self, call: str, pending: Any) -> None:
        try:
            await pending
        except BotUnavailableError:
            self._metrics.bot_calls.labels(call, "unavailable").inc()
            raise
        self._metrics.bot_calls.labels(call, "ok").inc()


class DeploymentCollector:
    """Figures read at scrape time: queues and reminders (database), leader, fan-out, Rasa."""

    def __init__(self, metrics: Metrics, state: Callable[[], dict[str, Any]]) -> None:
        """`state` returns the app's live parts (services, leader, live channels, supervisor)."""
        self._metrics = metrics
        self._state = state

    def collect(self) -> Iterable[Metric]:
        """Yield every metric family (called by `generate_latest`, in a worker thread)."""
        state = self._state()
        services: Services | None = state.get("services")
        yield from self._info()
        if services is not None:
            yield from self._database(services)
        yield from self._rasa(state)
        yield from self._processes(state)

    def _info(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("frontdesk_info", "The running version", labels=["version"])
        info.add_metric([__version__], 1.0)
        yield info

    def _database(self, services: Services) -> Iterator[Metric]:
        try:
            with services.unit_of_work() as session:
                queues = queue_states(
                    session=session,
                    now=services.clock(),
                    ehr=bool(services.settings.ehr_fhir_url.strip()),
                )
                dead = dead_letters(session=session)
                sent = dict(
                    session.execute(
                        select(ScheduledReminder.kind, func.count())
                        .where(ScheduledReminder.status == ReminderStatus.SENT)
                        .group_by(ScheduledReminder.kind)
                    ).all()
                )
        except SQLAlchemyError:  # the scrape still shows everything else, and this
            yield GaugeMetricFamily("frontdesk_database_up", "The database answers", value=0.0)
            return
        yield GaugeMetricFamily("frontdesk_database_up", "The database answers", value=1.0)
        depth = GaugeMetricFamily("frontdesk_queue_depth", "Items waiting", labels=["queue"])
        oldest = GaugeMetricFamily(
            "frontdesk_queue_oldest_age_seconds",
            "Age of the oldest unfinished item",
            labels=["queue"],
        )
        overdue = GaugeMetricFamily(
            "frontdesk_queue_overdue_seconds",
            "How long the most overdue item has been due without being picked up",
            labels=["queue"],
        )
        for queue in queues:
            depth.add_metric([queue.name], queue.depth)
            oldest.add_metric([queue.name], queue.oldest_age_seconds)
            overdue.add_metric([queue.name], queue.overdue_seconds)
        reminders = CounterMetricFamily(
            "frontdesk_reminders_sent",
            "Reminders and follow-ups handed to the SMS outbox",
            labels=["kind"],
        )
        for kind in ReminderKind:
            reminders.add_metric([kind.value], float(sent.get(kind, 0)))
        letters = GaugeMetricFamily(
            "frontdesk_dead_letters",
            "Items an outbox gave up on, waiting for staff to retry or dismiss",
            labels=["queue"],
        )
        for name, count in dead.items():
            letters.add_metric([name], count)
        yield from (depth, oldest, overdue, reminders, letters)
        yield from self._drift(services)

    def _drift(self, services: Services) -> Iterator[Metric]:
        try:
            with services.unit_of_work() as session:
                yield from list(
                    drift_metrics(
                        session=session,
                        now=services.clock(),
                        margin=services.settings.drift_fallback_margin,
                    )
                )
        except SQLAlchemyError:
            return  # frontdesk_database_up already says why

    def _rasa(self, state: dict[str, Any]) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "frontdesk_rasa_up", "Rasa answers with a model loaded", value=self._metrics.rasa_up
        )
        supervisor = state.get("supervisor")
        if supervisor is not None:
            yield CounterMetricFamily(
                "frontdesk_rasa_restarts",
                "Restarts of the Rasa child by frontdesk run",
                value=supervisor.restarts,
            )

    def _processes(self, state: dict[str, Any]) -> Iterator[Metric]:
        leader = state.get("leader")
        yield GaugeMetricFamily(
            "frontdesk_leader",
            "1 on the replica running the periodic jobs",
            value=1.0 if leader is not None and leader.running else 0.0,
        )
        fanout = getattr(state.get("live"), "fanout", None)
        if fanout is None:
            return
        yield GaugeMetricFamily(
            "frontdesk_fanout_connected",
            "Live updates reach the other replicas through Redis",
            value=1.0 if fanout.connected else 0.0,
        )
        messages = CounterMetricFamily(
            "frontdesk_fanout_messages", "Fan-out frames and events", labels=["direction"]
        )
        messages.add_metric(["published"], fanout.stats.published)
        messages.add_metric(["received"], fanout.stats.received)
        messages.add_metric(["dropped"], fanout.stats.dropped)
        yield messages


def install(app: Any) -> Metrics:
    """Create the app's metrics and register the scrape-time collector (call once per app)."""
    metrics = Metrics()

    def state() -> dict[str, Any]:
        app_state = app.state
        return {
            "services": getattr(app_state, "services", None),
            "leader": getattr(app_state, "leader", None),
            "live": getattr(app_state, "live", None),
            "supervisor": getattr(app_state, "rasa_supervisor", None),
        }

    metrics.registry.register(DeploymentCollector(metrics, state))
    app.state.metrics = metrics
    return metrics


def _authorised(request: Request, token: str) -> bool:
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.encode(), token.encode())


@router.get("/metrics")
async def metrics_endpoint(request: Request) -> Response:
    """The Prometheus text format, for a scraper presenting the metrics token."""
    services: Services = request.app.state.services
    token = services.settings.metrics_token.get_secret_value()
    if not token:
        raise HTTPException(status_code=404, detail="metrics are off (FRONTDESK_METRICS_TOKEN)")
    if not _authorised(request, token):
        raise HTTPException(
            status_code=401, detail="bearer token required", headers={"WWW-Authenticate": "Bearer"}
        )
    metrics: Metrics = request.app.state.metrics
    metrics.rasa_up = 1.0 if await services.bot.is_ready() else 0.0
    body = await run_in_threadpool(generate_latest, metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
