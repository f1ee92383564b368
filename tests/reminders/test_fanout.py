"""A reminder fan-out cannot starve patient turns: a bounded number of bot calls at a time."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from frontdesk.reminders.models import ReminderKind
from frontdesk.reminders.scheduler import (
    OUTREACH_BOT_CONCURRENCY,
    bot_notifier,
)
from frontdesk.reminders.sending import SentOutreach


class SlowBot:
    """A bot whose trigger_intent takes a while; it counts how many run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.done = 0

    async def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await asyncio.sleep(0.01)
        self.running -= 1
        self.done += 1


def test_reminder_triggers_run_a_few_at_a_time_and_all_arrive() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        bot = SlowBot()
        notify = bot_notifier(bot, loop)  # type: ignore[arg-type]
        for n in range(60):  # the scheduler's thread, after a batch committed
            notify(SentOutreach(n, ReminderKind.REMINDER, f"c_{n}", f"A{n}", True))
        deadline = loop.time() + 10
        while bot.done < 60 and loop.time() < deadline:
            threading.Event().wait(0.02)
        assert bot.done == 60
        assert bot.most == OUTREACH_BOT_CONCURRENCY
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
