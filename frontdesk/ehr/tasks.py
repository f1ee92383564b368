"""Running EHR write-back inside the service: the outbox worker and the pull loop.

Started by the application's lifespan only when an EHR is configured; with no EHR, our own
database is the system of record and nothing here runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from frontdesk.ehr.fhir import FhirEhr
from frontdesk.ehr.interface import Ehr, NoEhr
from frontdesk.ehr.pull import run_pull_loop
from frontdesk.ehr.worker import RetryPolicy, run_outbox_worker
from frontdesk.scheduling.waitlist_policy import WaitlistPolicy
from frontdesk.settings import Settings


def build_ehr(settings: Settings) -> Ehr:
    """`FhirEhr` when `FRONTDESK_EHR_FHIR_URL` is set, else `NoEhr`."""
    if not settings.ehr_fhir_url.strip():
        return NoEhr()
    token = settings.ehr_auth_token.get_secret_value() if settings.ehr_auth_token else None
    return FhirEhr(
        settings.ehr_fhir_url.strip(), token=token or None, timeout=settings.ehr_timeout_seconds
    )


def retry_policy(settings: Settings) -> RetryPolicy:
    """The outbox retry policy from settings."""
    return RetryPolicy(
        max_attempts=settings.ehr_outbox_max_attempts,
        base_seconds=settings.ehr_backoff_base_seconds,
        cap_seconds=settings.ehr_backoff_cap_seconds,
    )


class EhrSync:
    """The outbox worker and the pull loop as tasks of the service's event loop.

    Args:
        settings: Service settings (EHR section).
        sessions: Session factory.
        clock: The service clock.
        ehr: Injected EHR (default: built from settings).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        ehr: Ehr | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.clock = clock
        self.ehr = ehr or build_ehr(settings)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pull_stop = asyncio.Event()
        self._pull: asyncio.Task[None] | None = None

    def start(self, *, pull: bool = True) -> None:
        """Start the outbox worker, and the pull loop unless `pull` is False (no-op without an
        EHR). The service runs the worker in every replica (writes are claimed by lease) and
        the pull on the elected leader only (`start_pull`), so it is not repeated per replica.
        """
        if not self.ehr.configured or self._tasks:
            return
        self._tasks = [
            asyncio.create_task(
                run_outbox_worker(
                    sessions=self.sessions,
                    ehr=self.ehr,
                    identifier_prefix=self.settings.ehr_identifier_system,
                    policy=retry_policy(self.settings),
                    poll_seconds=self.settings.ehr_worker_poll_seconds,
                    clock=self.clock,
                    stop=self._stop,
                ),
                name="ehr-outbox-worker",
            )
        ]
        if pull:
            self.start_pull()

    def start_pull(self) -> None:
        """Start the loop pulling appointments made or cancelled in the EHR (no-op without)."""
        if not self.ehr.configured or self._pull is not None:
            return
        self._pull_stop = asyncio.Event()
        self._pull = asyncio.create_task(
            run_pull_loop(
                sessions=self.sessions,
                ehr=self.ehr,
                identifier_prefix=self.settings.ehr_identifier_system,
                interval_seconds=self.settings.ehr_pull_interval_seconds,
                clock=self.clock,
                stop=self._pull_stop,
                waitlist_policy=WaitlistPolicy.from_settings(self.settings),
            ),
            name="ehr-pull",
        )

    async def stop_pull(self) -> None:
        """Let the current pull finish, then stop the loop."""
        if self._pull is not None:
            self._pull_stop.set()
            await asyncio.gather(self._pull, return_exceptions=True)
            self._pull = None

    async def stop(self) -> None:
        """Let the current batch finish, then stop both tasks and close the client."""
        self._stop.set()
        await self.stop_pull()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        self.ehr.close()
