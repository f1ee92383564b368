"""The live chat hub: open web chat sockets by conversation id, for pushing frames to patients.

Bot replies, staff replies and handoff notices are stored first, then published here, so a
patient who is not connected reads them in the history when the widget reconnects.

`ChatHub` is what the channels and the console rely on. `InProcessChatHub` serves the sockets
of one process, the embedded default; a scaled-out deployment plugs in one that fans out
through a broker (Redis pub/sub), so a frame reaches the socket whichever process holds it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Protocol

from starlette.websockets import WebSocketDisconnect

# What sending on a socket that has gone away raises (Starlette: after a close, or when the
# client disconnected); the hub then forgets that socket instead of failing the publisher.
_SOCKET_GONE = (RuntimeError, WebSocketDisconnect)


class ChatSocket(Protocol):
    """The one thing the hub does with a patient's socket."""

    async def send_json(self, data: Any) -> None:
        """Send one JSON text frame."""


class ChatHub(Protocol):
    """Open chat sockets by conversation id (`Conversation.public_id`)."""

    def attach(self, conversation_id: str, socket: ChatSocket) -> None:
        """Register a socket this process holds for a conversation."""

    def detach(self, conversation_id: str, socket: ChatSocket) -> None:
        """Forget a socket (it closed)."""

    async def publish(self, conversation_id: str, frame: dict[str, Any]) -> int:
        """Send a frame to every socket of a conversation.

        Returns how many sockets held by this process got it. Nothing relies on it being
        more than that: a fan-out implementation, whose sockets may live in other processes,
        returns the local count too (the frame reaches the others through the broker), so 0
        never means "lost" — the message is stored and shows in the history anyway.
        """


class InProcessChatHub:
    """The chat hub of a single process: the sockets it holds itself."""

    def __init__(self) -> None:
        """Create an empty hub."""
        self._sockets: dict[str, set[ChatSocket]] = defaultdict(set)

    def attach(self, conversation_id: str, socket: ChatSocket) -> None:
        """Register a socket for a conversation."""
        self._sockets[conversation_id].add(socket)

    def detach(self, conversation_id: str, socket: ChatSocket) -> None:
        """Forget a socket."""
        sockets = self._sockets.get(conversation_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._sockets[conversation_id]

    async def publish(self, conversation_id: str, frame: dict[str, Any]) -> int:
        """Send a frame to every socket of a conversation; returns how many got it."""
        delivered = 0
        for socket in list(self._sockets.get(conversation_id, ())):
            try:
                await socket.send_json(frame)
                delivered += 1
            except _SOCKET_GONE:
                self.detach(conversation_id, socket)
        return delivered
