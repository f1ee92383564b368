"""Logging that cannot leak what it should not: query strings carry conversation tokens."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime

from frontdesk.phi.logfilter import PhiLogFilter
from frontdesk.phi.redaction import scrub

_QUERY = re.compile(r"\?[^\s\"']*")
SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    """Drop query strings from anything that looks like a path or URL."""
    return _QUERY.sub("?[redacted]", text)


class RedactQueryStrings(logging.Filter):
    """Removes query strings from a record's message and arguments.

    uvicorn logs every WebSocket handshake with its full path, and the widget's resume token
    (a bearer secret for the conversation) travels in the query string.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drop it."""
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def install_redaction() -> None:
    """Attach the filter to the web server's loggers (call after uvicorn set up logging)."""
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryStrings) for f in logger.filters):
            logger.addFilter(RedactQueryStrings())
    install_phi_filter()


class JsonFormatter(logging.Formatter):
    """One JSON object a line (`FRONTDESK_LOG_FORMAT=json`), for log collectors.

    It formats what the handler's filters left: the PHI filter has already replaced the
    message and rendered the traceback into `exc_text`, scrubbed, so neither is re-rendered
    from the raw exception here.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as JSON: time (UTC), level, logger, message, and exception if any."""
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["exception"] = record.exc_text
        elif record.exc_info:  # no PHI filter on this handler: render, then scrub anyway
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def use_format(log_format: str) -> None:
    """Give every configured handler the chosen format ("text" keeps theirs)."""
    if log_format != "json":
        return
    for logger in _configured_loggers():
        for handler in logger.handlers:
            if not isinstance(handler.formatter, JsonFormatter):
                handler.setFormatter(JsonFormatter())


def install_phi_filter() -> None:
    """Scrub PHI in every record any configured handler writes.

    Filters on handlers (not loggers) see records from every logger that propagates to them,
    so the filter goes on every handler of every logger that exists once logging is
    configured. uvicorn's own `uvicorn` logger has a handler of its own and does not
    propagate: its crash tracebacks ("Exception in ASGI application", logged on
    `uvicorn.error`) would otherwise be written unscrubbed. Call again after anything adds
    a handler.
    """
    for logger in _configured_loggers():
        for handler in logger.handlers:
            if not any(isinstance(f, PhiLogFilter) for f in handler.filters):
                handler.addFilter(PhiLogFilter())


def _configured_loggers() -> list[logging.Logger]:
    """The root logger, the web server's, and every other logger created so far."""
    named = [
        logger
        for logger in list(logging.Logger.manager.loggerDict.values())
        if isinstance(logger, logging.Logger)  # skip placeholders of unused parents
    ]
    server = [logging.getLogger(n) for n in ("uvicorn", *SERVER_LOGGERS)]
    return [logging.getLogger(), *server, *named]
