"""A logging filter that scrubs PHI from every record before any handler writes it."""

from __future__ import annotations

import logging
import threading

from frontdesk.phi.redaction import scrub

WITHHELD = "[log message withheld: written while PHI scrubbing was running]"
_state = threading.local()


class PhiLogFilter(logging.Filter):
    """Replaces PHI in a record's message (formatted with its arguments) and exception text.

    Our own code never logs patient text, but libraries may (a validation error quoting a
    request, an exception carrying a message). The record is rewritten, never dropped.
    Records that the scrubber's own libraries write while it runs (presidio, spaCy, at import
    or during analysis) cannot be scrubbed without recursing: their text is withheld.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place."""
        if getattr(_state, "active", False):
            record.msg, record.args, record.exc_info, record.exc_text = WITHHELD, None, None, None
            return True
        _state.active = True
        try:
            self._scrub(record)
        finally:
            _state.active = False
        return True

    @staticmethod
    def _scrub(record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: keep the raw parts
            message = f"{record.msg} {record.args}"
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # Formatters render exc_text when set; render it now, scrubbed.
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None


def install(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, PhiLogFilter) for f in handler.filters):
            handler.addFilter(PhiLogFilter())
