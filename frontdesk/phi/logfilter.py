"""A logging filter that scrubs PHI from every record before any handler writes it."""

from __future__ import annotations

import logging


class PhiLogFilter(logging.Filter):
    """Replaces PHI in a record's message (formatted with its arguments) and exception text.

    Our own code never logs patient text, but libraries may (a validation error quoting a
    request, an exception carrying a message). The record is rewritten, never dropped.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place."""
        from frontdesk.phi import scrub

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
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Attach the filter to every handler of `logger` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, PhiLogFilter) for f in handler.filters):
            handler.addFilter(PhiLogFilter())
