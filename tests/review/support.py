"""The review harness: the real app with the bot double, and a Rasa tracker endpoint double.

`FakeRasaTrackers` serves `GET /conversations/{id}/tracker` in Rasa 3.6's JSON (user events
with `parse_data`, then the actions Rasa ran), built from the turns the bot double received
and a scripted NLU, and refuses a request without Rasa's token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from frontdesk.app import create_app
from frontdesk.db import make_session_factory, session_scope
from frontdesk.demo import seed_demo
from frontdesk.review.models import NluTurn
from frontdesk.review.tracker import TrackerReader
from frontdesk.settings import Settings
from tests.auth.support import TOKEN, Clock, Console
from tests.conftest import AT_NOW
from tests.doubles import ScriptedBot

RASA_TOKEN = "rasa-test-token"
Nlu = Callable[[str], tuple[str, float, list[str]]]  # text -> intent, confidence, actions


class FakeRasaTrackers:
    """Rasa's tracker endpoint for the conversations the bot double has seen."""

    def __init__(self, bot: ScriptedBot, nlu: Nlu) -> None:
        self.bot, self.nlu = bot, nlu
        self.app = FastAPI()
        self.app.get("/conversations/{sender}/tracker")(self.tracker)

    def tracker(self, sender: str, token: str = "") -> dict[str, Any]:
        if token != RASA_TOKEN:
            raise HTTPException(status_code=401, detail="NotAuthenticated")
        events: list[dict[str, Any]] = [{"event": "action", "name": "action_session_start"}]
        for index, (conversation, text) in enumerate(self.bot.turns):
            if conversation != sender:
                continue
            intent, confidence, actions = self.nlu(text)
            events.append(
                {
                    "event": "user",
                    "timestamp": 1700000000.0 + index,
                    "text": text,
                    "parse_data": {
                        "intent": {"name": intent, "confidence": confidence},
                        "entities": [],
                        "text": text,
                        "message_id": f"m{index}",
                        "metadata": {},
                        "intent_ranking": [{"name": intent, "confidence": confidence}],
                    },
                    "input_channel": "callback",
                    "message_id": f"m{index}",
                    "metadata": {"model_id": "fake-model"},
                }
            )
            events += [{"event": "action", "name": name} for name in actions]
            events.append({"event": "action", "name": "action_listen"})
        return {"sender_id": sender, "slots": {}, "latest_message": {}, "events": events}

    def reader(self) -> TrackerReader:
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://rasa.test"
        )
        return TrackerReader("http://rasa.test", RASA_TOKEN, http=http)


def make_review_console(
    engine: Engine, tmp_path: Path, nlu: Nlu, **overrides: Any
) -> Iterator[tuple[Console, ScriptedBot]]:
    """The app with the bot double and the tracker double, nobody signed in."""
    with session_scope(make_session_factory(engine, clock=AT_NOW)) as db:
        practice_id = seed_demo(db).id
    options: dict[str, Any] = {
        "env": "test",
        "data_dir": tmp_path,
        "internal_token": TOKEN,
        "rasa_token": RASA_TOKEN,
        "secret_key": "secret-test-key",
        "allowed_hosts": "testserver",
        "sms_worker_enabled": False,
        "reminders_enabled": False,
        "reviewed_nlu_file": tmp_path / "reviewed.yml",
    }
    options.update(overrides)
    settings = Settings(**options)
    clock = Clock()
    bot = ScriptedBot()
    trackers = FakeRasaTrackers(bot, nlu)
    app = create_app(settings, engine=engine, bot=bot, clock=clock, tracker=trackers.reader())
    bot.attach(app, TOKEN)
    with TestClient(app, base_url="https://testserver") as client:
        yield Console(client, engine, clock, settings, practice_id), bot


def wait_for_turns(console: Console, count: int, timeout: float = 10.0) -> list[NluTurn]:
    """The recorded NLU turns once `count` exist (recording runs after the reply)."""
    deadline = time.monotonic() + timeout
    while True:
        with console.db() as session:
            turns = list(session.scalars(select(NluTurn).order_by(NluTurn.id)))
            session.expunge_all()
        if len(turns) >= count or time.monotonic() > deadline:
            return turns
        time.sleep(0.05)
