"""Staff console figures: how fast escalations and patient messages reach a live console, and
how long the queue and a conversation page take with a busy practice.

Runs the real app in-process (TestClient, migrated SQLite file, Rasa replaced by the bot
double, which runs the real `action_escalate` through the action endpoint) and measures:
  * patient message stored -> `conversation.patient_message` on the console WebSocket;
  * "I want a person" sent -> `conversation.escalated` on the console WebSocket (action,
    notice, callback and event fan-out included);
  * GET /console/api/queue, GET /console (HTML) with --open open escalations;
  * GET /console/conversations/<id> with a --messages message transcript (audited view).

Usage: .venv/bin/python bench/console_live.py [--turns 100] [--open 500] [--messages 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from frontdesk.conversations import handoff
from frontdesk.conversations import service as conversations
from frontdesk.conversations.models import Channel, EscalationReason, Role
from frontdesk.db import make_engine
from frontdesk.migrate import upgrade
from frontdesk.practices.models import Practice
from tests.auth.support import make_console

LIVE = "wss://testserver/console/ws"


def bot_replies(text: str) -> list[dict[str, Any]]:
    if "person" in text:
        return [{"action": "action_escalate", "intent": "request_human"}]
    return [{"text": "ok"}]


def summary(name: str, values: list[float]) -> None:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(
        f"{name:<52} n={len(values):<4} p50={statistics.median(values):7.1f} ms  "
        f"p95={p95:7.1f} ms  max={ordered[-1]:7.1f} ms"
    )


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--open", type=int, default=500)
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{folder}/frontdesk.db")
        upgrade(engine)
        harness = make_console(engine, Path(folder))
        console = next(harness)
        try:
            run(console, args)
        finally:
            harness.close()
            engine.dispose()


def run(console: Any, args: argparse.Namespace) -> None:
    console.client.app.state.services.bot.replies = bot_replies
    console.add_staff("bench@riverside.example", name="Bench Desk")
    assert console.sign_in("bench@riverside.example").status_code == 303

    message_ms: list[float] = []
    escalation_ms: list[float] = []
    with console.client.websocket_connect(LIVE) as live:
        for turn in range(args.turns):
            with console.client.websocket_connect("/chat/ws?practice=riverside") as chat:
                chat.receive_json()  # session
                started = time.perf_counter()
                chat.send_json({"type": "message", "text": "hello there", "client_id": f"a{turn}"})
                while live.receive_json()["type"] != "conversation.patient_message":
                    pass
                message_ms.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                chat.send_json(
                    {"type": "message", "text": "a person please", "client_id": f"b{turn}"}
                )
                while live.receive_json()["type"] != "conversation.escalated":
                    pass
                escalation_ms.append((time.perf_counter() - started) * 1000)
    summary("patient message -> live console event", message_ms)
    summary("'a person please' -> escalation on the console", escalation_ms)

    with console.db() as session:
        practice = session.get_one(Practice, console.practice_id)
        for _ in range(max(0, args.open - args.turns)):
            convo, _ = conversations.start_conversation(
                session=session, practice=practice, channel=Channel.SMS
            )
            handoff.escalate(
                session=session,
                conversation=convo,
                reason=EscalationReason.REFILL,
                now=console.clock(),
            )
        busy, _ = conversations.start_conversation(
            session=session, practice=practice, channel=Channel.WEBCHAT
        )
        for index in range(args.messages):
            role = Role.PATIENT if index % 2 else Role.BOT
            if role is Role.PATIENT:
                conversations.record_patient_message(
                    session=session,
                    conversation=busy,
                    text=f"message {index} 😊",
                    payload=None,
                    client_id=f"m{index}",
                )
            else:
                conversations.record_outgoing_message(
                    session=session, conversation=busy, role=role, text=f"reply {index}"
                )
        handoff.escalate(
            session=session,
            conversation=busy,
            reason=EscalationReason.PATIENT_REQUEST,
            now=console.clock(),
        )
        busy_id = busy.public_id
    count = len(console.client.get("/console/api/queue").json()["items"])
    summary(
        f"GET /console/api/queue ({count} open)",
        [timed(lambda: console.client.get("/console/api/queue")) for _ in range(20)],
    )
    summary(
        f"GET /console (HTML, {count} open)",
        [timed(lambda: console.client.get("/console")) for _ in range(20)],
    )
    summary(
        f"GET conversation page ({args.messages} messages, audited)",
        [timed(lambda: console.client.get(f"/console/conversations/{busy_id}")) for _ in range(20)],
    )


if __name__ == "__main__":
    main()
