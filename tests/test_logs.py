"""Server logs never carry query strings (resume tokens)."""

from __future__ import annotations

import logging

import pytest

from frontdesk.logs import install_redaction


def test_websocket_handshake_lines_lose_their_query_string(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_redaction()
    logger = logging.getLogger("uvicorn.error")
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        logger.info(
            '%s - "WebSocket %s" [accepted]',
            "127.0.0.1:5000",
            "/chat/ws?practice=riverside&resume=SECRET-TOKEN",
        )
    assert "SECRET-TOKEN" not in caplog.text
    assert '"WebSocket /chat/ws?[redacted]" [accepted]' in caplog.text
