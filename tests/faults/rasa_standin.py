"""A stand-in for Rasa 3.6 in its own process, speaking the wire format the service uses.

It serves
  POST /webhooks/callback/webhook  {sender, message, message_id, metadata}: holds the
       conversation's lock, optionally stalls, POSTs the reply `{"recipient_id", "text"}` to
       the service's callback URL with the internal token as a bearer header, then saves the
       user and bot events and answers "success" (Rasa's order: the tracker is saved after
       the turn's bot messages went out, so a kill in between makes Rasa forget the turn);
  GET  /conversations/{id}/tracker?token=  the saved events (user events keep `metadata`);
  GET  /status?token=  `{"model_id": ...}` (the service's readiness check).

Its tracker is a SQLite file, so a SIGKILL and a restart keep what was saved, as Rasa's SQL
tracker store does; every webhook it receives is also logged there, saved or not. The reply
to a message is "re: " and the message, so each answer names the turn it answers.

Run: `python -m tests.faults.rasa_standin PORT DB CALLBACK_URL` with STANDIN_RASA_TOKEN,
STANDIN_INTERNAL_TOKEN and optionally STANDIN_STALL_SECONDS / STANDIN_STALL_TURNS (stall
the first N webhooks that many seconds before answering: a Rasa slower than the client).
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, sender TEXT, event TEXT, text TEXT, message_id TEXT, metadata TEXT
);
CREATE TABLE IF NOT EXISTS received (id INTEGER PRIMARY KEY, sender TEXT, our_id TEXT);
"""


def open_store(path: Path) -> sqlite3.Connection:
    """The stand-in's tracker store (created if missing)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(SCHEMA)
    return db


def user_events(path: Path) -> list[tuple[str, str, str]]:
    """(sender, our message id, text) of every saved user event, for the tests."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT sender, metadata, text FROM events WHERE event = 'user' ORDER BY id"
        ).fetchall()
    return [
        (sender, json.loads(meta).get("frontdesk_message_id", ""), text)
        for sender, meta, text in rows
    ]


def received_count(path: Path) -> int:
    """How many webhooks the stand-in received (saved or not), over all its runs."""
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT count(*) FROM received").fetchone()[0])


class RasaStandIn:
    """The stand-in's state: its store, its per-conversation locks, what to stall."""

    def __init__(self, store: Path, callback_url: str) -> None:
        """Serve from `store`, answering to `callback_url`."""
        self.db = open_store(store)
        self.callback_url = callback_url
        self.rasa_token = os.environ["STANDIN_RASA_TOKEN"]
        self.internal_token = os.environ["STANDIN_INTERNAL_TOKEN"]
        self.stall = float(os.environ.get("STANDIN_STALL_SECONDS", "0"))
        self.stall_left = int(os.environ.get("STANDIN_STALL_TURNS", "0"))
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.http = httpx.AsyncClient(timeout=30)

    def app(self) -> Starlette:
        """The ASGI application."""
        return Starlette(
            routes=[
                Route("/webhooks/callback/webhook", self.webhook, methods=["POST"]),
                Route("/conversations/{sender}/tracker", self.tracker, methods=["GET"]),
                Route("/status", self.status, methods=["GET"]),
            ]
        )

    def _authorised(self, request: Request) -> bool:
        return request.query_params.get("token") == self.rasa_token

    async def status(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "unauthorised"}, status_code=401)
        return JSONResponse({"model_id": "standin", "num_active_training_jobs": 0})

    async def tracker(self, request: Request) -> Response:
        if not self._authorised(request):
            return JSONResponse({"message": "unauthorised"}, status_code=401)
        sender = request.path_params["sender"]
        rows = self.db.execute(
            "SELECT event, text, message_id, metadata FROM events WHERE sender = ? ORDER BY id",
            (sender,),
        ).fetchall()
        events: list[dict[str, Any]] = [
            {"event": event, "text": text, "message_id": message_id, "metadata": json.loads(meta)}
            for event, text, message_id, meta in rows
        ]
        return JSONResponse({"sender_id": sender, "events": events})

    async def webhook(self, request: Request) -> Response:
        body = await request.json()
        sender, text = str(body["sender"]), str(body.get("message", ""))
        metadata = body.get("metadata") or {}
        self.db.execute(
            "INSERT INTO received (sender, our_id) VALUES (?, ?)",
            (sender, metadata.get("frontdesk_message_id", "")),
        )
        async with self.locks[sender]:
            if self.stall_left > 0:
                self.stall_left -= 1
                await asyncio.sleep(self.stall)
            reply = f"re: {text}"
            answer = await self.http.post(
                self.callback_url,
                json={"recipient_id": sender, "text": reply},
                headers={"Authorization": f"Bearer {self.internal_token}"},
            )
            answer.raise_for_status()
            # Rasa saves the tracker once the turn is over, user and bot events together.
            with self.db:
                self.db.execute("BEGIN")
                self.db.execute(
                    "INSERT INTO events (sender, event, text, message_id, metadata) "
                    "VALUES (?, 'user', ?, ?, ?)",
                    (sender, text, uuid.uuid4().hex, json.dumps(metadata)),
                )
                self.db.execute(
                    "INSERT INTO events (sender, event, text, message_id, metadata) "
                    "VALUES (?, 'bot', ?, NULL, '{}')",
                    (sender, reply),
                )
        return PlainTextResponse("success")


if __name__ == "__main__":
    port, store, callback = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    uvicorn.run(
        RasaStandIn(store, callback).app(),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
