"""`make test-scale`: the multi-process shape of docs/operations.md under load, for real.

On this machine: PostgreSQL (a fresh database for the service, another for Rasa's tracker
store) and Redis (a channel prefix of this run's own), two service replicas
(`frontdesk run --no-rasa --no-migrate --no-seed`) and two `rasa run` with the trained model
and `bot/endpoints.scale.yml`, HAProxy in front of each pair. Rasa's action endpoint and
callback go through the service balancer, so a turn started on one replica may be answered
through the other.

Load: 50 concurrent conversations (30 by SMS: signed Twilio webhooks to the balancer's
public URL and the Twilio stand-in taking the replies; 20 by web chat sockets through the
balancer, each from its own loopback address), three everyday turns each. While they run, a
staff member signed in on replica B claims and answers a web chat whose socket is open on
replica A (the reply crosses over Redis and must reach that socket exactly once). Midway,
replica A is SIGKILLed: HAProxy routes to B, web chats reconnect with their resume token and
resend what was not acknowledged (same client id), and a webhook that was not acknowledged is
sent again with the same MessageSid, as Twilio's retry would. Only acknowledged turns count.

A turn counts as answered once when, in the service's database, the patient's message is
stored once and followed by at least one bot message, none of them twice, and (SMS) every
stored bot message was texted once. It counts as answered twice when Rasa's tracker holds
the turn more than once (processed twice), even if the patient saw one answer. (The tracker
is not asked for presence: the PHI scrubber sends "thanks, bye" to Rasa as "thanks,
PHI_NAME_1", so that turn is not found under its text; docs/operations.md.) It prints
acknowledged / answered once / answered twice / lost and fails on anything but all once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, select, text
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from frontdesk import botctl
from frontdesk.auth.models import StaffAccount, StaffRole
from frontdesk.auth.passwords import hash_password
from frontdesk.clock import system_clock
from frontdesk.conversations.models import Conversation, Message, Owner, Role
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.settings import PROJECT_ROOT, Settings
from frontdesk.sms.models import OutboundSms, PracticeSmsNumber, SmsThread
from tests import factories
from tests.faults.turns import INTERNAL_TOKEN, RASA_TOKEN, Sender, TurnTally, Webhook
from tests.support.stack import ChatClient, free_port
from tests.test_fanout import REDIS_URL
from tests.twilio_fake import ACCOUNT_SID, AUTH_TOKEN, TwilioFake, inbound_params, running_fake

pytestmark = [pytest.mark.scale, pytest.mark.postgres, pytest.mark.timeout(900)]

# Everyday turns, each of which the bot answers with at least one message.
TURNS = (
    "hi",
    "what are your opening hours?",
    "I'd like to book a checkup",
    "never mind",
    "thanks, bye",
)
SMS_CONVERSATIONS = 30
WEB_CONVERSATIONS = 20
TURN_TIMEOUT = 120.0  # two cores for 2 Rasa, 2 replicas, PostgreSQL, Redis and the clients
STAFF_EMAIL = "scale.staff@example.test"
STAFF_PASSWORD = "scale-test-password-0123"
SECRETS: dict[str, Any] = {
    "internal_token": INTERNAL_TOKEN,
    "rasa_token": RASA_TOKEN,
    "secret_key": "scale-test-secret-key-0123456789",
}
HAPROXY = """\
global
    maxconn 4000
defaults
    mode http
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    timeout tunnel 1h
    option forwardfor
    option redispatch
    retries 3
    retry-on conn-failure empty-response
frontend service
    bind 127.0.0.1:{service_port}
    default_backend replicas
backend replicas
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1
{replica_servers}
frontend rasa
    bind 127.0.0.1:{rasa_port}
    default_backend rasa
backend rasa
    balance roundrobin
    option httpchk
    http-check send meth GET uri / ver HTTP/1.1 hdr Host 127.0.0.1
{rasa_servers}
"""


@dataclass
class Deployment:
    """Every process of the run, its ports and logs."""

    tmp_path: Path
    database_url: str
    tracker_url: str
    fake: TwilioFake
    prefix: str = field(default_factory=lambda: f"scale-{uuid.uuid4().hex[:8]}")
    lb_port: int = field(default_factory=free_port)
    rasa_lb_port: int = field(default_factory=free_port)
    replica_ports: dict[str, int] = field(
        default_factory=lambda: {"a": free_port(), "b": free_port()}
    )
    rasa_ports: dict[str, int] = field(
        default_factory=lambda: {"r1": free_port(), "r2": free_port()}
    )
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def public_url(self) -> str:
        """The service balancer: what Twilio, patients and Rasa reach."""
        return f"http://127.0.0.1:{self.lb_port}"

    def replica_url(self, name: str) -> str:
        """One replica directly, past the balancer."""
        return f"http://127.0.0.1:{self.replica_ports[name]}"

    def start_haproxy(self) -> None:
        """HAProxy in the foreground with this run's configuration."""
        config = self.tmp_path / "haproxy.cfg"
        config.write_text(
            HAPROXY.format(
                service_port=self.lb_port,
                rasa_port=self.rasa_lb_port,
                replica_servers="\n".join(
                    f"    server {name} 127.0.0.1:{port} check inter 1s fall 2 rise 2"
                    for name, port in self.replica_ports.items()
                ),
                rasa_servers="\n".join(
                    f"    server {name} 127.0.0.1:{port} check inter 2s fall 2 rise 2"
                    for name, port in self.rasa_ports.items()
                ),
            )
        )
        self._spawn("haproxy", [shutil.which("haproxy") or "haproxy", "-db", "-f", str(config)])

    def start_rasa(self, name: str, model: Path) -> None:
        """`rasa run` as `frontdesk run` would start it, with the shared stores."""
        data_dir = self.tmp_path / name
        (data_dir / "logs").mkdir(parents=True)
        settings = Settings(
            env="test",
            _env_file=None,
            data_dir=data_dir,
            redis_url=REDIS_URL,
            rasa_tracker_url=self.tracker_url,
            rasa_endpoints=PROJECT_ROOT / "bot" / "endpoints.scale.yml",
            **SECRETS,
        )
        env = botctl.rasa_environment(settings)
        env["FRONTDESK_ACTION_ENDPOINT_URL"] = f"{self.public_url}/internal/rasa/actions"
        env["FRONTDESK_CALLBACK_URL"] = f"{self.public_url}/internal/rasa/callback"
        command = botctl.rasa_server_command(settings, model, port=self.rasa_ports[name])
        self._spawn(name, command, env=env, cwd=data_dir)

    def start_replica(self, name: str) -> None:
        """One service replica on the shared database, Redis and Rasa balancer."""
        data_dir = self.tmp_path / name
        data_dir.mkdir()
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(PROJECT_ROOT),
            "FRONTDESK_ENV": "test",
            "FRONTDESK_DATA_DIR": str(data_dir),
            "FRONTDESK_DATABASE_URL": self.database_url,
            "FRONTDESK_PORT": str(self.replica_ports[name]),
            "FRONTDESK_PUBLIC_URL": self.public_url,  # Twilio signs what it called
            "FRONTDESK_SECRET_KEY": "scale-test-secret-key-0123456789",
            "FRONTDESK_INTERNAL_TOKEN": INTERNAL_TOKEN,
            "FRONTDESK_RASA_TOKEN": RASA_TOKEN,
            "FRONTDESK_RASA_URL": f"http://127.0.0.1:{self.rasa_lb_port}",
            "FRONTDESK_START_RASA": "false",
            "FRONTDESK_REDIS_URL": REDIS_URL,
            "FRONTDESK_REDIS_CHANNEL_PREFIX": self.prefix,
            "FRONTDESK_TURN_RETRY_BASE_SECONDS": "0.5",
            "FRONTDESK_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "FRONTDESK_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "FRONTDESK_TWILIO_API_BASE_URL": self.fake.url,
            "FRONTDESK_SMS_CLAIM_LEASE_SECONDS": "5",
            "FRONTDESK_SMS_RETRY_BASE_SECONDS": "0.2",
            "FRONTDESK_REMINDERS_ENABLED": "false",
            # Plain http on loopback: a Secure cookie would never come back to the console.
            "FRONTDESK_SESSION_COOKIE_SECURE": "false",
            "FRONTDESK_LOG_LEVEL": "WARNING",
            "RASA_TELEMETRY_ENABLED": "false",
        }
        command = [sys.executable, "-m", "frontdesk", "run", "--no-rasa", "--no-seed"]
        self._spawn(name, [*command, "--no-migrate"], env=env, cwd=data_dir)

    def wait_up(self, name: str, url: str, timeout: float) -> None:
        """Until `url` answers 200 (the process must stay alive meanwhile)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited early:\n{self.logs()}")
            try:
                if httpx.get(url, timeout=3).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{name} did not come up at {url}:\n{self.logs()}")

    def wait_balanced(self, timeout: float) -> None:
        """Until HAProxy has seen every server come up (it starts them down: they were not
        listening yet), so no early turn meets a balancer with nobody behind it."""
        servers = [f"replicas/{n}" for n in self.replica_ports]
        servers += [f"rasa/{n}" for n in self.rasa_ports]
        log = self.tmp_path / "haproxy.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = log.read_text(errors="replace")
            if all(f"Server {server} is UP" in seen for server in servers):
                return
            time.sleep(0.5)
        raise TimeoutError(f"HAProxy did not see every server up:\n{self.logs()}")

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs."""
        self.processes[name].send_signal(signal.SIGKILL)
        self.processes[name].wait(10)

    def stop(self) -> None:
        """End every process still running (SIGTERM, then SIGKILL)."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    def logs(self) -> str:
        """The tail of every process's log, for a failing assertion."""
        parts = []
        for name in self.processes:
            path = self.tmp_path / f"{name}.log"
            if path.exists():
                parts.append(f"--- {name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def _spawn(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        with (self.tmp_path / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                command,
                env=env,
                cwd=cwd or self.tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


@contextmanager
def deployment(
    tmp_path: Path, database_url: str, tracker_url: str, *, each: int = 2
) -> Iterator[Deployment]:
    """HAProxy, `each` Rasa and `each` replicas, all answering; everything stopped after."""
    settings = Settings(
        env="test",
        _env_file=None,
        data_dir=tmp_path,
        **SECRETS,
        model_cache_dir=Path(
            os.environ.get("FRONTDESK_MODEL_CACHE_DIR", str(PROJECT_ROOT / "var" / "models"))
        ),
    )
    model = botctl.ensure_model(settings)
    with running_fake() as fake:
        running = Deployment(tmp_path, database_url, tracker_url, fake)
        running.replica_ports = dict(list(running.replica_ports.items())[:each])
        running.rasa_ports = dict(list(running.rasa_ports.items())[:each])
        try:
            running.start_haproxy()
            for name in running.rasa_ports:
                running.start_rasa(name, model)
            for name in running.replica_ports:
                running.start_replica(name)
            for name in running.replica_ports:
                running.wait_up(name, f"{running.replica_url(name)}/healthz", 120)
            for name, port in running.rasa_ports.items():
                running.wait_up(name, f"http://127.0.0.1:{port}/status?token={RASA_TOKEN}", 400)
            running.wait_balanced(60)
            yield running
        finally:
            running.stop()


def seed(engine: Engine) -> tuple[str, str]:
    """The demo practice, its SMS number and a staff account; returns (slug, number)."""
    with session_scope(make_session_factory(engine, clock=system_clock)) as db:
        practice = seed_demo(db)
        number = db.scalar(
            select(PracticeSmsNumber.phone).where(PracticeSmsNumber.practice_id == practice.id)
        )
        if number is None:
            number = factories.sms_number(db, practice=practice).phone
        db.add(
            StaffAccount(
                practice_id=practice.id,
                email=STAFF_EMAIL,
                display_name="Sam Scale",
                role=StaffRole.FRONT_DESK,
                password_hash=hash_password(STAFF_PASSWORD),
                created_at=system_clock(),
            )
        )
        return practice.slug, number


class WebChat:
    """A patient's widget: reconnects with its resume token when the socket drops, and
    resends an unacknowledged message under the same client id."""

    def __init__(self, url: str, practice: str, address: str) -> None:
        """Open the first socket (through `url`, from loopback `address`)."""
        self.url, self.practice, self.address = url, practice, address
        self.client = self._open(None)
        self.conversation = str(self.client.session["conversation_id"])
        self.frames: list[dict[str, Any]] = []
        self.reconnects = 0

    def _open(self, token: str | None) -> ChatClient:
        host, port = self.url.removeprefix("http://").split(":")
        sock = socket.socket()
        sock.bind((self.address, 0))
        sock.settimeout(10)
        sock.connect((host, int(port)))
        sock.settimeout(None)
        query = f"practice={self.practice}" + ("&resume=1" if token else "")
        ws = self.url.replace("http://", "ws://")
        socket_ = connect(f"{ws}/chat/ws?{query}", sock=sock, open_timeout=10)
        if token:
            socket_.send(json.dumps({"type": "resume", "token": token}))
        return ChatClient(socket_)

    def turn(self, number: int, words: str, answered: Callable[[], bool]) -> bool:
        """Send one message until acknowledged; then wait until `answered` holds."""
        frame = {"type": "message", "text": words, "client_id": f"turn-{number}"}
        acknowledged = False
        deadline = time.monotonic() + TURN_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if not acknowledged:
                    self.client.socket.send(json.dumps(frame))
                while time.monotonic() < deadline:
                    got = self.client.receive(timeout=1.0)
                    self.frames.append(got)
                    if got["type"] == "ack" and got.get("client_id") == frame["client_id"]:
                        acknowledged = True
                    if acknowledged and answered():
                        return True
            except TimeoutError:
                if acknowledged and answered():
                    return True
            except (ConnectionClosed, OSError):
                self._reconnect(deadline)
        return acknowledged

    def _reconnect(self, deadline: float) -> None:
        token = str(self.client.session["resume_token"])
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                self.client = self._open(token)
                self.reconnects += 1
                return
            except (ConnectionClosed, OSError, TimeoutError, AssertionError):
                continue

    def close(self) -> None:
        """Close the socket."""
        self.client.close()


def messages_of(engine: Engine, public_id: str) -> list[tuple[int, Role, str]]:
    """A conversation's messages in order: (id, role, text)."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(Message.id, Message.role, Message.text)
            .join(Conversation, Conversation.id == Message.conversation_id)
            .where(Conversation.public_id == public_id)
            .order_by(Message.id)
        ).all()
    return [(int(id_), Role(role), words or "") for id_, role, words in rows]


def owner_of(engine: Engine, public_id: str) -> Owner | None:
    """Who holds the conversation now (bot or staff)."""
    with engine.connect() as connection:
        found = connection.execute(
            select(Conversation.owner).where(Conversation.public_id == public_id)
        ).scalar()
    return Owner(found) if found else None


def sms_public_id(engine: Engine, phone: str) -> str | None:
    """The conversation an SMS number's texts go to."""
    with engine.connect() as connection:
        found = connection.execute(
            select(Conversation.public_id)
            .join(SmsThread, SmsThread.conversation_id == Conversation.id)
            .where(SmsThread.phone == phone)
        ).scalar()
    return str(found) if found else None


def queued_texts(engine: Engine) -> dict[int, list[str]]:
    """The SMS bodies the outbox queued, by the message they carry."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(OutboundSms.message_id, OutboundSms.body).where(
                OutboundSms.message_id.is_not(None)
            )
        ).all()
    found: dict[int, list[str]] = {}
    for message_id, body in rows:
        if message_id is not None:
            found.setdefault(message_id, []).append(body)
    return found


def answered_turns(messages: list[tuple[int, Role, str]]) -> int:
    """How many patient messages are followed by a bot message."""
    count, waiting = 0, False
    for _, role, _ in messages:
        if role is Role.PATIENT:
            waiting = True
        elif role is Role.BOT and waiting:
            count, waiting = count + 1, False
    return count


def tracker_turns(tracker_url: str) -> Counter[tuple[str, str]]:
    """(sender, text) of every user event in Rasa's tracker store."""
    engine = create_engine(tracker_url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT sender_id, data FROM events WHERE type_name = 'user'")
            ).all()
    finally:
        engine.dispose()
    return Counter((sender, json.loads(data).get("text", "")) for sender, data in rows)


def settled_tracker(tracker_url: str) -> Counter[tuple[str, str]]:
    """The tracker's user events a few seconds after the last answer.

    Rasa saves a tracker after the turn's replies went out, so the last turns' events land
    a moment after the patients got their answers.
    """
    time.sleep(5)
    return tracker_turns(tracker_url)


@dataclass(frozen=True)
class Observed:
    """Everything the counts are made from, read once the load is over."""

    acknowledged: dict[str, int]  # public id -> turns acknowledged, in order
    texted: dict[str, Counter[str]]  # SMS public id -> bodies the Twilio stand-in took
    queued: dict[int, list[str]]  # message id -> SMS bodies queued for it
    tracker: Counter[tuple[str, str]]  # (sender = public id, text) -> user events


def tally(engine: Engine, observed: Observed, problems: list[str]) -> TurnTally:
    """Count every acknowledged turn of every conversation; `problems` gets a line for
    each turn not answered exactly once."""
    once = twice = lost = 0
    for public_id, turns in observed.acknowledged.items():
        messages = messages_of(engine, public_id)
        segments: list[list[tuple[int, str]]] = []
        for id_, role, words in messages:
            if role is Role.PATIENT:
                segments.append([])
            elif role is Role.BOT and segments:
                segments[-1].append((id_, words))
        patient = [w for _, r, w in messages if r is Role.PATIENT]
        sms = observed.texted.get(public_id)
        for n in range(turns):
            words = TURNS[n]
            replies = segments[n] if n < len(segments) else []
            in_tracker = observed.tracker[(public_id, words)]
            stored_twice = patient.count(words) > 1 or in_tracker > 1
            repeated = any(c > 1 for c in Counter(w for _, w in replies).values())
            bodies = [b for id_, _ in replies for b in observed.queued.get(id_, [])]
            sent_twice = sms is not None and any(sms[b] > bodies.count(b) for b in bodies)
            unsent = sms is not None and (not bodies or any(sms[b] == 0 for b in bodies))
            if replies and not (stored_twice or repeated or sent_twice or unsent):
                once += 1
                continue
            if stored_twice or repeated or sent_twice:
                twice += 1
            else:
                lost += 1
            problems.append(
                f"{public_id} turn {n + 1} ({'sms' if sms is not None else 'web'}): "
                f"{len(replies)} bot messages, tracker {in_tracker}, "
                f"stored {patient.count(words)}, "
                f"queued {len(bodies)}, texted {[sms[b] for b in bodies] if sms else '-'}"
            )
    return TurnTally(sum(observed.acknowledged.values()), once, twice, lost)


def test_two_replicas_and_two_rasa_behind_haproxy_answer_every_turn_once(
    tmp_path: Path,
    postgres_engine: Engine,
    tracker_database: str,
    report: Callable[[str], None],
) -> None:
    if shutil.which("haproxy") is None:
        pytest.fail("haproxy is not installed: run scripts/install-haproxy.sh (make test-scale)")
    slug, number = seed(postgres_engine)
    database_url = postgres_engine.url.render_as_string(hide_password=False)
    with ExitStack() as stack:
        running = stack.enter_context(deployment(tmp_path, database_url, tracker_database))
        fake = running.fake
        sender = Sender(running.public_url)
        acknowledged: dict[str, int] = {}
        phones = [f"+1555559{c:04d}" for c in range(SMS_CONVERSATIONS)]
        turns_started = Counter[str]()
        lock = threading.Lock()

        def begin_turn() -> None:
            with lock:
                turns_started["all"] += 1

        def texts_to(phone: str) -> int:
            return sum(1 for m in list(fake.messages) if m["to"] == phone)

        def sms_patient(phone: str) -> None:
            for n, words in enumerate(TURNS):
                webhook = Webhook(phone, inbound_params(body=words, from_=phone, to=number))
                before = texts_to(phone)
                begin_turn()
                for _ in range(6):  # Twilio's retries: the same MessageSid
                    if sender.post(webhook):
                        break
                    time.sleep(1)
                else:
                    return
                public_id = sms_public_id(postgres_engine, phone)
                assert public_id is not None
                with lock:
                    acknowledged[public_id] = n + 1
                deadline = time.monotonic() + TURN_TIMEOUT
                while texts_to(phone) <= before and time.monotonic() < deadline:
                    time.sleep(0.5)
                if texts_to(phone) <= before:
                    return  # lost: the later turns would only queue behind it
                time.sleep(1.0)  # the rest of this turn's texts

        chats: list[WebChat] = []

        def web_patient(index: int) -> None:
            chat = WebChat(running.public_url, slug, f"127.0.1.{index + 10}")
            with lock:
                chats.append(chat)
            try:
                for n, words in enumerate(TURNS):
                    begin_turn()

                    def answered(n: int = n) -> bool:
                        return answered_turns(messages_of(postgres_engine, chat.conversation)) > n

                    if not chat.turn(n, words, answered):
                        return
                    with lock:
                        acknowledged[chat.conversation] = n + 1
                    if not answered():
                        return  # lost: the later turns would only queue behind it
            finally:
                chat.close()

        # The staff member's patient: a socket on replica A, the console on replica B.
        staff_chat = WebChat(running.replica_url("a"), slug, "127.0.2.1")
        staff_seen: list[dict[str, Any]] = []
        staff_text = "Hello, this is Sam from the front desk; I can help you here."

        total = len(TURNS) * (SMS_CONVERSATIONS + WEB_CONVERSATIONS)
        escalated = staff_chat.turn(
            0,
            "i want to talk to a person",  # the bot hands the conversation to staff
            lambda: owner_of(postgres_engine, staff_chat.conversation) is Owner.STAFF,
        )
        assert escalated, staff_chat.frames
        replied_at: list[int] = []

        def staff_reply() -> None:
            while turns_started["all"] < total // 5:  # well into the load, before the kill
                time.sleep(0.1)
            replied_at.append(turns_started["all"])
            with httpx.Client(base_url=running.replica_url("b"), timeout=30) as console:
                page = console.get("/console/login")
                token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
                signed_in = console.post(
                    "/console/login",
                    data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD, "csrf_token": token},
                )
                assert signed_in.status_code in (200, 303), signed_in.text[:300]
                path = f"/console/conversations/{staff_chat.conversation}"
                page = console.get(path)
                csrf = page.text.split('<meta name="csrf-token" content="', 1)[1].split('"', 1)[0]
                claimed = console.post(f"{path}/claim", data={"csrf_token": csrf})
                assert claimed.status_code in (200, 303), claimed.text[:300]
                replied = console.post(
                    f"{path}/reply", data={"csrf_token": csrf, "text": staff_text}
                )
                assert replied.status_code in (200, 303), replied.text[:300]
            # Everything the socket gets for a while: the reply, and any second copy of it.
            deadline = time.monotonic() + 4
            while time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    staff_seen.append(staff_chat.client.receive(timeout=1.0))

        workers = [threading.Thread(target=sms_patient, args=(p,)) for p in phones]
        workers += [
            threading.Thread(target=web_patient, args=(i,)) for i in range(WEB_CONVERSATIONS)
        ]
        staff = threading.Thread(target=staff_reply)
        began = time.monotonic()
        for worker in [*workers, staff]:
            worker.start()
        staff.join()
        while turns_started["all"] < total // 2 and any(w.is_alive() for w in workers):
            time.sleep(0.2)
        running.kill("a")  # midway: the socket and webhooks on A are cut off
        killed_at = turns_started["all"]
        for worker in workers:
            worker.join()
        seconds = time.monotonic() - began
        staff_chat.close()

        texted: dict[str, Counter[str]] = {}
        for phone in phones:
            public_id = sms_public_id(postgres_engine, phone)
            if public_id:
                texted[public_id] = Counter(
                    m["body"] for m in list(fake.messages) if m["to"] == phone
                )
        observed = Observed(
            acknowledged,
            texted,
            queued_texts(postgres_engine),
            settled_tracker(tracker_database),
        )
        problems: list[str] = []
        counts = tally(postgres_engine, observed, problems)
        staff_frames = [
            f for f in staff_seen if f.get("type") == "message" and f.get("text") == staff_text
        ]
        report(
            counts.line(
                f"scale: {SMS_CONVERSATIONS} SMS + {WEB_CONVERSATIONS} web chat conversations, "
                f"2 replicas + 2 Rasa behind HAProxy, replica A SIGKILLed at turn {killed_at} "
                f"of {total}, {sum(c.reconnects for c in chats)} web chat reconnects, "
                f"{sum(sender.failures.values())} webhook attempts not acknowledged; "
                f"{sum(acknowledged.values()) / seconds:.2f} turns/s over {seconds:.0f} s"
            )
        )
        report(
            f"scale: the staff reply sent on replica B at turn {replied_at[0]} reached the "
            f"patient's socket on replica A {len(staff_frames)} time(s)"
        )
        assert counts.all_once, "\n".join([*problems[:40], running.logs()])
        assert counts.acknowledged == total, (sender.failures, running.logs())
        assert len(staff_frames) == 1, staff_seen


THROUGHPUT_CONVERSATIONS = 20


def test_throughput_with_one_and_with_two_of_each(
    tmp_path: Path,
    postgres_engine: Engine,
    tracker_database: str,
    report: Callable[[str], None],
) -> None:
    """The same 20 web chats of five turns through the balancer, with one replica and one
    Rasa, then with two of each (fresh processes, same databases): turns/s of each. Asserts
    only that every turn was answered; the figures are printed, not judged."""
    slug, _ = seed(postgres_engine)
    database_url = postgres_engine.url.render_as_string(hide_password=False)
    figures: dict[int, float] = {}
    unanswered: list[str] = []
    for each in (1, 2):
        shape = tmp_path / f"each-{each}"
        shape.mkdir()
        with deployment(shape, database_url, tracker_database, each=each) as running:

            def converse(index: int, running: Deployment = running, each: int = each) -> None:
                chat = WebChat(running.public_url, slug, f"127.0.{each + 2}.{index + 10}")
                try:
                    for n, words in enumerate(TURNS):
                        frames = chat.client.turn(words, timeout=TURN_TIMEOUT)
                        if not any(f["type"] == "message" for f in frames):
                            kinds = [f["type"] for f in frames]
                            unanswered.append(f"{each} of each, turn {n + 1}: {kinds}")
                finally:
                    chat.close()

            workers = [
                threading.Thread(target=converse, args=(i,))
                for i in range(THROUGHPUT_CONVERSATIONS)
            ]
            began = time.monotonic()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            figures[each] = len(TURNS) * THROUGHPUT_CONVERSATIONS / (time.monotonic() - began)
            assert unanswered == [], unanswered
    load = Path("/proc/loadavg").read_text().split()[0]
    report(
        f"scale throughput, {THROUGHPUT_CONVERSATIONS} web chats x {len(TURNS)} turns: "
        f"1 replica + 1 Rasa {figures[1]:.2f} turns/s, 2 + 2 {figures[2]:.2f} turns/s "
        f"(x{figures[2] / figures[1]:.2f}; load average {load} on {os.cpu_count()} cores)"
    )
