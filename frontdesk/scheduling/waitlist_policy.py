"""How the waitlist hands out freed time: batch size, how long an offer stays open, how far ahead.

The values are service-wide settings (`FRONTDESK_WAITLIST_*`). Entry points read them once and
pass the policy down (the action context, the reminder tick, the EHR pull), so the waitlist
itself never reads settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from frontdesk.settings import Settings


@dataclass(frozen=True)
class WaitlistPolicy:
    """The waitlist's service-wide rules; the defaults are the settings' defaults.

    Attributes:
        batch_size: Waitlisted patients offered freed time at once; the first to accept wins.
        offer_minutes: How long an offer stays open before the next batch is offered.
        days: How far ahead an entry that names no days looks.
    """

    batch_size: int = 3
    offer_minutes: int = 60
    days: int = 30

    @classmethod
    def from_settings(cls, settings: Settings) -> WaitlistPolicy:
        """The policy the service is configured with."""
        return cls(
            batch_size=settings.waitlist_batch_size,
            offer_minutes=settings.waitlist_offer_minutes,
            days=settings.waitlist_days,
        )


DEFAULT_WAITLIST_POLICY = WaitlistPolicy()
