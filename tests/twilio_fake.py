"""A local stand-in for Twilio's REST API, speaking its wire format, plus webhook signing.

`TwilioFake` serves
  POST /2010-04-01/Accounts/{AccountSid}/Messages.json  (form-encoded: To, From or
       MessagingServiceSid, Body, StatusCallback; HTTP Basic auth AccountSid:AuthToken)
       -> 201 with Twilio's Message JSON, or Twilio's error JSON (400/401/404)
  GET  /2010-04-01/Accounts/{AccountSid}/Messages.json?To=&DateSent>=  -> a page of messages
and can be told to fail the next requests with a status (500, 503, 429) or to stall them past
the client's timeout, or (`fail_every=N`) to refuse every Nth send, alternating Twilio's 500
and 429 answers (the fault suite). It runs with uvicorn on a free loopback port in a background
thread.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"  # a test double's credential


def sign(url: str, params: dict[str, str], auth_token: str = AUTH_TOKEN) -> str:
    """The `X-Twilio-Signature` Twilio would send for a form POST to `url`."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def inbound_params(
    *, body: str, from_: str, to: str, sid: str | None = None, num_media: int = 0
) -> dict[str, str]:
    """The form fields of a Twilio inbound-SMS webhook."""
    params = {
        "ToCountry": "US",
        "SmsMessageSid": sid or "SM" + secrets.token_hex(16),
        "NumMedia": str(num_media),
        "From": from_,
        "To": to,
        "Body": body,
        "NumSegments": "1",
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "SmsStatus": "received",
    }
    params["MessageSid"] = params["SmsMessageSid"]
    for i in range(num_media):
        params[f"MediaUrl{i}"] = f"https://api.twilio.com/media/ME{i:032d}"
        params[f"MediaContentType{i}"] = "image/jpeg"
    return params


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


@dataclass
class TwilioFake:
    """The fake's state: received messages and failures to inject."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    messages: list[dict[str, Any]] = field(default_factory=list)
    _failures: list[tuple[str, float]] = field(default_factory=list)
    _list_failures: list[int] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _counter: Iterator[int] = field(default_factory=itertools.count)
    url: str = ""
    latency: float = 0.0  # seconds between storing a message and answering (a slow Twilio)
    fail_every: int = 0  # refuse every Nth send request (nothing stored): 500, then 429, ...
    refused: int = 0  # send requests refused because of `fail_every`
    _sends: int = 0

    def fail_next(self, count: int, status: int = 500) -> None:
        """Answer the next `count` send requests with `status` (nothing is stored)."""
        with self._lock:
            self._failures += [("status", float(status))] * count

    def fail_lists(self, count: int, status: int = 503) -> None:
        """Answer the next `count` list requests (`GET .../Messages.json`) with `status`."""
        with self._lock:
            self._list_failures += [status] * count

    def stall_next(self, count: int, seconds: float) -> None:
        """Hold the next `count` send requests for `seconds` before answering 503."""
        with self._lock:
            self._failures += [("stall", seconds)] * count

    def accept_then_stall(self, count: int, seconds: float) -> None:
        """Store the next `count` messages, then stall the answer (a read timeout after Twilio
        already took the message: the case that causes doubles if retried blindly)."""
        with self._lock:
            self._failures += [("store_then_stall", seconds)] * count

    def bodies_to(self, to: str) -> list[str]:
        """Bodies received for one number, in order."""
        with self._lock:
            return [m["body"] for m in self.messages if m["to"] == to]

    def app(self) -> Starlette:
        """The ASGI application."""
        path = "/2010-04-01/Accounts/{account}/Messages.json"
        return Starlette(
            routes=[
                Route(path, self._create, methods=["POST"]),
                Route(path, self._list, methods=["GET"]),
                Route("/_fake/messages", self._dump, methods=["GET"]),  # not Twilio's: benches
            ]
        )

    async def _dump(self, request: Request) -> JSONResponse:
        with self._lock:
            return JSONResponse([{"to": m["to"], "sid": m["sid"]} for m in self.messages])

    def _authorised(self, request: Request, account: str) -> JSONResponse | None:
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()
        ).decode("ascii")
        if request.headers.get("authorization") != expected or account != self.account_sid:
            return _error(401, 20003, "Authenticate")
        return None

    async def _create(self, request: Request) -> JSONResponse:
        account = request.path_params["account"]
        denied = self._authorised(request, account)
        if denied is not None:
            return denied
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            self._sends += 1
            periodic = self.fail_every > 0 and self._sends % self.fail_every == 0
            if periodic and failure is None:
                self.refused += 1
                if self.refused % 2 == 0:
                    return _error(429, 20429, "Too Many Requests")
                return _error(500, 20500, "Internal Server Error")
        if failure is not None and failure[0] == "status":
            return _error(int(failure[1]), 20500, "Internal Server Error")
        if failure is not None and failure[0] == "stall":
            await asyncio.sleep(failure[1])
            return _error(503, 20503, "Service Unavailable")
        to = str(form.get("To") or "")
        body = str(form.get("Body") or "")
        sender = str(form.get("From") or "")
        service = str(form.get("MessagingServiceSid") or "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not to.startswith("+") or not to[1:].isdigit():
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        now = datetime.now(UTC)
        sid = "SM" + f"{next(self._counter):032x}"
        base = f"/2010-04-01/Accounts/{account}"
        message = {
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": _rfc2822(now),
            "date_sent": None,
            "date_updated": _rfc2822(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender or None,
            "messaging_service_sid": service or None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if not service else "accepted",
            "subresource_uris": {
                "media": f"/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"{base}/Messages/{sid}.json",
            # Twilio keeps the callback URL but never returns it in the Message resource.
            "_status_callback": str(form.get("StatusCallback") or "") or None,
            "_created": now,
        }
        with self._lock:
            self.messages.append(message)
        if failure is not None and failure[0] == "store_then_stall":
            await asyncio.sleep(failure[1])
        elif self.latency:
            await asyncio.sleep(self.latency)
        return JSONResponse(_public(message), status_code=201)

    async def _list(self, request: Request) -> JSONResponse:
        account = request.path_params["account"]
        denied = self._authorised(request, account)
        if denied is not None:
            return denied
        with self._lock:
            failure = self._list_failures.pop(0) if self._list_failures else None
        if failure is not None:
            return _error(failure, 20500, "Service Unavailable")
        to = request.query_params.get("To")
        after_raw = request.query_params.get("DateSent>")
        after = datetime.fromisoformat(after_raw.replace("Z", "+00:00")) if after_raw else None
        with self._lock:
            found = [
                _public(m)
                for m in reversed(self.messages)
                if (to is None or m["to"] == to) and (after is None or m["_created"] >= after)
            ]
        uri = f"/2010-04-01/Accounts/{account}/Messages.json"
        return JSONResponse(
            {
                "messages": found[:50],
                "end": max(0, min(len(found), 50) - 1),
                "first_page_uri": uri + "?PageSize=50&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": 50,
                "previous_page_uri": None,
                "start": 0,
                "uri": uri + "?PageSize=50&Page=0",
            }
        )


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_fake(fake: TwilioFake | None = None) -> Iterator[TwilioFake]:
    """Serve a fake on a free loopback port for the duration of the block."""
    fake = fake or TwilioFake()
    port = free_port()
    config = uvicorn.Config(
        fake.app(), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the Twilio fake did not start")
        time.sleep(0.01)
    fake.url = f"http://127.0.0.1:{port}"
    try:
        yield fake
    finally:
        server.should_exit = True
        thread.join(5)


if (
    __name__ == "__main__"
):  # a fake in its own process (benchmarks): python -m tests.twilio_fake PORT
    import sys

    uvicorn.run(
        TwilioFake().app(),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
    )
