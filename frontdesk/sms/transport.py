"""Ways an SMS leaves: Twilio's Messages API, or a development sandbox that keeps it local.

`TwilioTransport` uses the official client with an HTTP client that rewrites Twilio's host to
the configured base URL, so tests and sandboxes can point it at a local fake speaking
Twilio's wire format (`edge`/`region` cannot reach localhost).
"""

from __future__ import annotations

import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import requests
from twilio.base.exceptions import (  # type: ignore[import-untyped]
    TwilioException,
    TwilioRestException,
)
from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

if TYPE_CHECKING:
    from frontdesk.settings import Settings

logger = logging.getLogger(__name__)
TWILIO_BASE = "https://api.twilio.com"
# The client logs query strings (phone numbers) at INFO; nothing of it is worth the risk.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)


@dataclass(frozen=True)
class SendResult:
    """What the provider said when it took the message."""

    sid: str
    status: str  # "queued", "accepted", "sent", "delivered" ...


class TransientSendError(Exception):
    """Worth retrying: 5xx, 429, timeouts, connection errors."""


class AmbiguousSendError(TransientSendError):
    """The request may have reached the provider (a read timeout, a connection lost mid-way):
    look the message up before sending it again."""


class PermanentSendError(Exception):
    """Retrying cannot help (invalid number, unsubscribed recipient, bad credentials)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        """Create the error with the provider's error code, if any."""
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ProviderMessage:
    """One outbound message in the provider's log (what reconciliation compares)."""

    sid: str
    body: str
    created: datetime


class SmsTransport(Protocol):
    """What the outbox worker needs from an SMS provider."""

    def send(
        self,
        *,
        to: str,
        body: str,
        from_phone: str | None,
        messaging_service_sid: str | None,
        status_callback: str | None,
    ) -> SendResult:
        """Hand one message over; raise TransientSendError or PermanentSendError."""

    def sent_to(self, *, to: str, since: datetime) -> list[ProviderMessage]:
        """Outbound messages the provider created for `to` since `since`, oldest first (used
        after a crash between handing a message over and recording it); raise
        TransientSendError when the provider cannot be asked."""


class BaseUrlHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Twilio's HTTP client with `https://api.twilio.com` replaced by a configured base URL."""

    def __init__(self, base_url: str, *, timeout: float) -> None:
        """Create the client; `base_url` like `http://127.0.0.1:8765` (no trailing slash)."""
        super().__init__(pool_connections=True, timeout=timeout)
        self.base_url = base_url.rstrip("/")

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send the request to the configured host instead of Twilio's."""
        if url.startswith(TWILIO_BASE):
            url = self.base_url + url[len(TWILIO_BASE) :]
        return super().request(method, url, params, data, headers, auth, timeout, allow_redirects)


class TwilioTransport:
    """Sends through Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`)."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        base_url: str = TWILIO_BASE,
        timeout: float = 10.0,
        messaging_service_sid: str | None = None,
    ) -> None:
        """Create the transport; one HTTP connection pool per worker thread."""
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._base_url = base_url
        self._timeout = timeout
        self._messaging_service_sid = messaging_service_sid or None
        self._local = threading.local()

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            http = BaseUrlHttpClient(self._base_url, timeout=self._timeout)
            client = Client(self._account_sid, self._auth_token, http_client=http)
            self._local.client = client
        return client

    def send(
        self,
        *,
        to: str,
        body: str,
        from_phone: str | None,
        messaging_service_sid: str | None,
        status_callback: str | None,
    ) -> SendResult:
        """Create the message at Twilio."""
        kwargs: dict[str, Any] = {"to": to, "body": body}
        service = messaging_service_sid or self._messaging_service_sid
        if service:
            kwargs["messaging_service_sid"] = service
        elif from_phone:
            kwargs["from_"] = from_phone
        else:
            raise PermanentSendError("no sending number or messaging service configured")
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self._client().messages.create(**kwargs)
        except TwilioRestException as exc:
            if exc.status == 429 or exc.status >= 500:
                raise TransientSendError(f"twilio answered {exc.status}") from exc
            raise PermanentSendError(f"twilio answered {exc.status}", str(exc.code)) from exc
        except requests.ConnectTimeout as exc:
            raise TransientSendError(type(exc).__name__) from exc
        except requests.ConnectionError as exc:
            if "NewConnectionError" in repr(exc) or "Connection refused" in repr(exc):
                raise TransientSendError("connection refused") from exc
            raise AmbiguousSendError(type(exc).__name__) from exc
        except requests.Timeout as exc:  # a read timeout: Twilio may have the message
            raise AmbiguousSendError(type(exc).__name__) from exc
        return SendResult(sid=str(message.sid), status=str(message.status or "queued"))

    def sent_to(self, *, to: str, since: datetime) -> list[ProviderMessage]:
        """Twilio's log for one number (`GET .../Messages.json?To=`, newest first, one page).

        No date filter in the request: Twilio filters on the sent date, which a still-queued
        message lacks. A message with no creation date cannot be placed in time and is left
        out (matching it could mark an unsent text as sent).
        """
        try:
            messages = self._client().messages.list(to=to, limit=50)
        except (TwilioException, requests.RequestException) as exc:
            # A failed page is a bare TwilioException ("Unable to fetch page"), not a
            # TwilioRestException: both mean "ask again later".
            raise TransientSendError(type(exc).__name__) from exc
        found = [
            ProviderMessage(sid=str(m.sid), body=str(m.body or ""), created=m.date_created)
            for m in messages
            if str(m.direction or "").startswith("outbound")
            and m.date_created is not None
            and m.date_created >= since
        ]
        return sorted(found, key=lambda m: (m.created, m.sid))


class SandboxTransport:
    """Development without Twilio: every message counts as delivered at once.

    The messages stay in the outbox table, and the development-only page `/dev/sms` shows them
    (one-time codes included), so an installer can try the SMS flows with no account.
    """

    def send(
        self,
        *,
        to: str,
        body: str,
        from_phone: str | None,
        messaging_service_sid: str | None,
        status_callback: str | None,
    ) -> SendResult:
        """Accept the message."""
        return SendResult(sid="SM" + secrets.token_hex(16), status="delivered")

    def sent_to(self, *, to: str, since: datetime) -> list[ProviderMessage]:
        """The sandbox keeps no log of its own: an interrupted send is simply sent again."""
        return []


def transport_from_settings(settings: Settings) -> SmsTransport:
    """Twilio when an account is configured, else the development sandbox."""
    token = settings.twilio_auth_token.get_secret_value()
    if settings.twilio_account_sid and token:
        return TwilioTransport(
            account_sid=settings.twilio_account_sid,
            auth_token=token,
            base_url=settings.twilio_api_base_url,
            timeout=settings.twilio_timeout_seconds,
            messaging_service_sid=settings.twilio_messaging_service_sid or None,
        )
    return SandboxTransport()
