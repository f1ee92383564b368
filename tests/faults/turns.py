"""What the patient-turn fault scenarios share: the service (`frontdesk run --no-rasa`) and the
Rasa stand-in (`tests.faults.rasa_standin`) as processes of their own, so either can be
killed with SIGKILL; signed Twilio webhooks; and the counts.

Every scenario ends with one line — acknowledged / answered once / answered twice / lost —
and fails on anything but "all answered once, none twice, none lost". A turn counts as
answered once when the stand-in's tracker holds it exactly once (by our message id) and the
Twilio stand-in took exactly one reply to it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine

from frontdesk.clock import system_clock
from frontdesk.db import make_session_factory, session_scope
from frontdesk.models import Practice
from tests import factories
from tests.faults.harness import ROOT
from tests.faults.rasa_standin import user_events
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TwilioFake, free_port, inbound_params, sign

RASA_TOKEN = "fault-suite-rasa-token"
INTERNAL_TOKEN = "fault-suite-internal-token"
CLIENT_TIMEOUT = 2.0  # FRONTDESK_RASA_TIMEOUT_SECONDS of the service under test, by default


def seed_sms_practice(engine: Engine) -> str:
    """A practice with an SMS number; returns the number patients text."""
    with session_scope(make_session_factory(engine, clock=system_clock)) as db:
        practice: Practice = factories.practice(db)
        return factories.sms_number(db, practice=practice).phone


@dataclass
class Processes:
    """The service and the Rasa stand-in of one scenario, each restartable."""

    tmp_path: Path
    engine: Engine
    fake: TwilioFake
    port: int = field(default_factory=free_port)
    rasa_port: int = field(default_factory=free_port)
    client_timeout: float = CLIENT_TIMEOUT
    service: subprocess.Popen[bytes] | None = None
    rasa: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """Where Twilio (and the tests) reach the service."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def tracker_file(self) -> Path:
        """The stand-in's tracker store."""
        return self.tmp_path / "rasa-standin.db"

    def start_service(self) -> None:
        """`frontdesk run --no-rasa` on the test database; returns once it answers /healthz."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "FRONTDESK_ENV": "test",
            "FRONTDESK_DATA_DIR": str(self.tmp_path),
            "FRONTDESK_DATABASE_URL": self.engine.url.render_as_string(hide_password=False),
            "FRONTDESK_PORT": str(self.port),
            "FRONTDESK_SECRET_KEY": "fault-suite-secret-key",
            "FRONTDESK_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "FRONTDESK_RASA_TOKEN": RASA_TOKEN,
            "FRONTDESK_RASA_URL": f"http://127.0.0.1:{self.rasa_port}",
            "FRONTDESK_START_RASA": "false",
            "FRONTDESK_RASA_TIMEOUT_SECONDS": str(self.client_timeout),
            "FRONTDESK_TURN_RETRY_BASE_SECONDS": "0.2",
            "FRONTDESK_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "FRONTDESK_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "FRONTDESK_TWILIO_API_BASE_URL": self.fake.url,
            "FRONTDESK_SMS_CLAIM_LEASE_SECONDS": "2",
            "FRONTDESK_SMS_RETRY_BASE_SECONDS": "0.1",
            "FRONTDESK_SMS_MAX_ATTEMPTS": "30",
            "FRONTDESK_REMINDERS_ENABLED": "false",
            "FRONTDESK_LOG_LEVEL": "WARNING",
        }
        with (self.tmp_path / "service.log").open("ab") as log:
            self.service = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "frontdesk",
                    "run",
                    "--no-rasa",
                    "--no-seed",
                    "--no-migrate",
                ],
                cwd=self.tmp_path,  # no .env from the checkout
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_up(self.service, f"{self.base_url}/healthz", {})

    def start_rasa(self, *, stall_seconds: float = 0.0, stall_turns: int = 0) -> None:
        """The Rasa stand-in; returns once it answers /status."""
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT),
            "STANDIN_RASA_TOKEN": RASA_TOKEN,
            "STANDIN_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "STANDIN_STALL_SECONDS": str(stall_seconds),
            "STANDIN_STALL_TURNS": str(stall_turns),
        }
        callback = f"{self.base_url}/internal/rasa/callback"
        with (self.tmp_path / "rasa-standin.log").open("ab") as log:
            self.rasa = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.faults.rasa_standin",
                    str(self.rasa_port),
                    str(self.tracker_file),
                    callback,
                ],
                cwd=self.tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_up(self.rasa, f"http://127.0.0.1:{self.rasa_port}/status", {"token": RASA_TOKEN})

    def kill_service(self) -> None:
        """SIGKILL the service: no shutdown code runs."""
        _kill(self.service)

    def kill_rasa(self) -> None:
        """SIGKILL the stand-in."""
        _kill(self.rasa)

    def stop(self) -> None:
        """End whatever still runs (SIGTERM, then SIGKILL)."""
        for process in (self.service, self.rasa):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    _kill(process)

    def logged(self, text: str) -> bool:
        """Whether either process ever logged `text` (the whole files, not `log`'s tails)."""
        return any(
            text in path.read_text(errors="replace")
            for name in ("service.log", "rasa-standin.log")
            if (path := self.tmp_path / name).exists()
        )

    def log(self) -> str:
        """Both processes' logs, for a failing assertion."""
        parts = []
        for name in ("service.log", "rasa-standin.log"):
            path = self.tmp_path / name
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-6000:])
        return "\n".join(parts)

    def _wait_up(self, process: subprocess.Popen[bytes], url: str, params: dict[str, str]) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited early:\n{self.log()}")
            try:
                if httpx.get(url, params=params, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{url} did not come up:\n{self.log()}")


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGKILL)
        process.wait(10)


@dataclass(frozen=True)
class Webhook:
    """One patient text, as Twilio posts it (the same MessageSid on every retry)."""

    phone: str
    params: dict[str, str]

    @property
    def body(self) -> str:
        """The patient's words."""
        return self.params["Body"]


def webhooks(to: str, *, conversations: int, per_conversation: int) -> list[list[Webhook]]:
    """`per_conversation` texts from each of `conversations` made-up numbers, in order."""
    return [
        [
            Webhook(
                phone,
                inbound_params(body=f"question {m + 1} of patient {c + 1}", from_=phone, to=to),
            )
            for m in range(per_conversation)
        ]
        for c, phone in enumerate(f"+1555558{c:04d}" for c in range(conversations))
    ]


class Sender:
    """Posts signed webhooks like Twilio; remembers which were acknowledged (HTTP 200)."""

    def __init__(self, base_url: str) -> None:
        """Post to the service at `base_url`."""
        self.url = f"{base_url}/webhooks/twilio/sms"
        self.acknowledged: set[str] = set()  # MessageSids
        self.failures: Counter[str] = Counter()  # why attempts were not acknowledged
        self._lock = threading.Lock()

    def post(self, webhook: Webhook) -> bool:
        """One attempt; True when the service answered 200."""
        sid = webhook.params["MessageSid"]
        try:
            response = httpx.post(
                self.url,
                data=webhook.params,
                headers={"X-Twilio-Signature": sign(self.url, webhook.params)},
                timeout=10,
            )
        except httpx.HTTPError as exc:
            with self._lock:
                self.failures[type(exc).__name__] += 1
            return False
        if response.status_code != 200:
            with self._lock:
                self.failures[str(response.status_code)] += 1
            return False
        with self._lock:
            self.acknowledged.add(sid)
        return True

    def post_all(self, threads: list[list[Webhook]], *, gap: float = 0.0) -> None:
        """Each conversation's texts in order, the conversations side by side."""

        def run(texts: list[Webhook]) -> None:
            for webhook in texts:
                self.post(webhook)
                time.sleep(gap)

        workers = [threading.Thread(target=run, args=(texts,)) for texts in threads]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def resend_unacknowledged(self, threads: list[list[Webhook]], *, rounds: int = 5) -> None:
        """Twilio's retries: what was not acknowledged, the same MessageSid, a few times."""
        for _ in range(rounds):
            left = [
                [w for w in t if w.params["MessageSid"] not in self.acknowledged] for t in threads
            ]
            if not any(left):
                return
            self.post_all(left)
            time.sleep(0.5)

    def count(self) -> int:
        """How many distinct texts were acknowledged so far."""
        with self._lock:
            return len(self.acknowledged)


@dataclass(frozen=True)
class TurnTally:
    """What happened to the acknowledged texts."""

    acknowledged: int
    once: int
    twice: int
    lost: int

    def line(self, scenario: str) -> str:
        """The counts, as the suite prints them."""
        return (
            f"{scenario}: acknowledged {self.acknowledged} / answered once {self.once} / "
            f"answered twice {self.twice} / lost {self.lost}"
        )

    @property
    def all_once(self) -> bool:
        """The only acceptable outcome."""
        return (self.once, self.twice, self.lost) == (self.acknowledged, 0, 0)


def tally_turns(texts: list[Webhook], tracker_file: Path, fake: TwilioFake) -> TurnTally:
    """Count each text's turns in the stand-in's tracker (by our message id) and its replies
    at the Twilio stand-in. A text whose turn is in the tracker twice, or whose reply was
    texted twice, counts as answered twice; one missing either counts as lost."""
    events = user_events(tracker_file)
    ids_by_text: dict[str, Counter[str]] = {}
    for _, our_id, text in events:
        ids_by_text.setdefault(text, Counter())[our_id] += 1
    replies = Counter((m["to"], m["body"]) for m in list(fake.messages))
    once = twice = lost = 0
    for webhook in texts:
        ids = ids_by_text.get(webhook.body, Counter())
        turns = sum(ids.values())
        texted = replies[(webhook.phone, f"re: {webhook.body}")]
        if turns > 1 or len(ids) > 1 or texted > 1:
            twice += 1
        elif turns == 1 and texted == 1:
            once += 1
        else:
            lost += 1
    return TurnTally(len(texts), once, twice, lost)


def all_answered(texts: list[Webhook], fake: TwilioFake) -> Callable[[], bool]:
    """Whether every text's reply reached the Twilio stand-in."""
    wanted = {(w.phone, f"re: {w.body}") for w in texts}
    return lambda: wanted <= {(m["to"], m["body"]) for m in list(fake.messages)}


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
