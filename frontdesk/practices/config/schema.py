"""The practice file: one YAML document that describes a practice completely.

These pydantic models are the format's single definition: `frontdesk practice validate`
checks a file against them, `apply` and `export` translate them to and from the database, and
`docs/practice.schema.json` is generated from them (so editors validate the same rules).
Field order here is the order `export` writes, which makes an exported file the canonical
form of a practice. Checks that need the whole file (a visit type naming an unknown provider,
overlapping hours) live in `checks.py`, next to these per-field rules.
"""

from __future__ import annotations

import re
import string
from datetime import date, datetime, time
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from frontdesk.scheduling.models import PatientRule

SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")
DURATION = re.compile(r"^(\d+)([dhm])$")
UNIT_MINUTES = {"d": 24 * 60, "h": 60, "m": 1}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

Name = Annotated[str, Field(min_length=1, max_length=200)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$", max_length=64)]
Minutes = Annotated[int, Field(ge=0, le=365 * 24 * 60)]
TimeSpan = Annotated[
    str,
    Field(
        pattern=SPAN.pattern,
        description='Local wall-clock span "HH:MM-HH:MM", e.g. "08:30-12:00"',
        examples=["08:30-12:00"],
    ),
]
Duration = Annotated[
    str,
    Field(
        pattern=DURATION.pattern,
        description='How long before the visit: "7d", "48h" or "90m"',
        examples=["7d", "2h"],
    ),
]


def parse_span(value: str) -> tuple[time, time]:
    """`"08:30-12:00"` -> (08:30, 12:00)."""
    match = SPAN.match(value)
    if match is None:
        raise ValueError(f'"{value}" is not a time span like "08:30-12:00"')
    start_h, start_m, end_h, end_m = (int(part) for part in match.groups())
    start, end = time(start_h, start_m), time(end_h, end_m)
    if start >= end:
        raise ValueError(f'"{value}" ends before it starts')
    return start, end


def format_span(start: time, end: time) -> str:
    """The inverse of `parse_span`."""
    return f"{start:%H:%M}-{end:%H:%M}"


def duration_minutes(value: str) -> int:
    """`"7d"` -> 10080."""
    match = DURATION.match(value)
    if match is None:
        raise ValueError(f'"{value}" is not a duration like "7d", "48h" or "90m"')
    return int(match.group(1)) * UNIT_MINUTES[match.group(2)]


def format_duration(minutes: int) -> str:
    """The largest whole unit: 10080 -> "7d", 120 -> "2h", 90 -> "90m"."""
    for unit in ("d", "h"):
        if minutes and minutes % UNIT_MINUTES[unit] == 0:
            return f"{minutes // UNIT_MINUTES[unit]}{unit}"
    return f"{minutes}m"


class Spec(BaseModel):
    """Unknown keys are errors: a misspelt key must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Week(Spec):
    """Bookable time per weekday, each a list of local spans (lunch = two spans)."""

    monday: list[TimeSpan] = []
    tuesday: list[TimeSpan] = []
    wednesday: list[TimeSpan] = []
    thursday: list[TimeSpan] = []
    friday: list[TimeSpan] = []
    saturday: list[TimeSpan] = []
    sunday: list[TimeSpan] = []

    @field_validator(*WEEKDAYS)
    @classmethod
    def _spans_in_order(cls, spans: list[str]) -> list[str]:
        for span in spans:
            parse_span(span)
        return spans

    def days(self) -> list[tuple[int, list[str]]]:
        """(weekday number with Monday = 0, spans) for each day, Monday first."""
        return [(number, getattr(self, name)) for number, name in enumerate(WEEKDAYS)]


class Booking(Spec):
    """Booking rules for every visit type that does not set its own."""

    min_lead_minutes: Minutes = Field(120, description="Earliest booking, minutes from now")
    max_horizon_days: Annotated[int, Field(ge=1, le=730)] = Field(
        90, description="Latest booking, days from now"
    )
    buffer_before_minutes: Minutes = Field(0, description="Provider time kept free before a visit")
    buffer_after_minutes: Minutes = Field(0, description="Provider time kept free after a visit")


class Cancellation(Spec):
    """What patients are told about cancelling."""

    policy: str | None = Field(None, description="The policy as patients read it")
    late_cancel_hours: Annotated[int, Field(ge=0, le=24 * 14)] = Field(
        24, description="Cancelling closer than this to the start is late (0: never late)"
    )
    fee_text: str | None = Field(None, description='e.g. "a $25 late-cancellation fee may apply"')


class LocationSpec(Spec):
    """A place where the practice sees patients."""

    name: Name
    address: Annotated[str, Field(min_length=1, max_length=300)]
    phone: str | None = Field(None, description="E.164, e.g. +15555550100")


class ProviderSpec(Spec):
    """A clinician patients can book, seen at one location."""

    name: Name = Field(description='As patients see it, e.g. "Dr. Amara Patel"')
    specialty: Annotated[str, Field(max_length=100)] | None = None
    location: Name = Field(description="Name of one of the practice's locations")
    active: bool = Field(True, description="false: kept on record, no longer bookable")
    hours: Week = Field(default_factory=Week, description="Weekly bookable hours, local time")


# The languages a practice may translate its own wording into (English is the file's own).
OtherLanguage = Literal["es"]


class Translation(Spec):
    """The practice's own wording in another language.

    A text left out is quoted as the practice wrote it; a translated visit type name sits on
    the visit type (`names`).
    """

    cancellation_policy: str | None = Field(None, description="cancellation.policy, translated")
    late_cancel_fee: str | None = Field(None, description="cancellation.fee_text, translated")
    payment_methods: str | None = Field(None, description="billing.payment_methods, translated")
    post_visit_message: str | None = Field(
        None, description="reminders.post_visit_message, translated ({practice} allowed)"
    )


TranslationsSpec = dict[OtherLanguage, Translation]
TRANSLATIONS: TypeAdapter[TranslationsSpec] = TypeAdapter(TranslationsSpec)


class VisitTypeSpec(Spec):
    """A kind of visit patients can book, with its length and rules."""

    code: Slug = Field(description="Stable identifier, e.g. sick-visit")
    name: Name
    minutes: Annotated[int, Field(gt=0, le=8 * 60, multiple_of=5)]
    keywords: list[Annotated[str, Field(min_length=1, pattern=r"^[^,]+$")]] = Field(
        [], description="Words patients use for it (no commas)"
    )
    patients: PatientRule = Field(
        PatientRule.ANY, description="any, new (never seen) or established (seen before)"
    )
    providers: list[Name] = Field(
        [], description="Providers who offer it (by name); empty: every provider"
    )
    min_lead_minutes: Minutes | None = Field(None, description="Overrides booking.min_lead_minutes")
    max_horizon_days: Annotated[int, Field(ge=1, le=730)] | None = None
    buffer_before_minutes: Minutes | None = None
    buffer_after_minutes: Minutes | None = None
    active: bool = True
    names: dict[OtherLanguage, Name] = Field(
        {}, description='Its name in another language, e.g. {"es": "Consulta por enfermedad"}'
    )


class ExceptionSpec(Spec):
    """Time that cannot be booked: a holiday (no provider) or a provider's time off.

    Whole days are given as `first_day` (and `last_day`, inclusive); part of a day as
    `starts` and `ends`, local date-times ("2026-12-09T13:00").
    """

    provider: Name | None = Field(None, description="Omit for the whole practice")
    first_day: date | None = None
    last_day: date | None = None
    starts: datetime | None = None
    ends: datetime | None = None
    reason: Annotated[str, Field(max_length=200)] = ""

    @model_validator(mode="after")
    def _one_shape(self) -> ExceptionSpec:
        days = self.first_day is not None
        times = self.starts is not None or self.ends is not None
        if days == times:
            raise ValueError("give either first_day (and last_day) or starts and ends")
        if days and self.last_day is not None and self.last_day < self.first_day:  # type: ignore[operator]
            raise ValueError("last_day is before first_day")
        if times:
            if self.starts is None or self.ends is None:
                raise ValueError("give both starts and ends")
            if self.starts.tzinfo is not None or self.ends.tzinfo is not None:
                raise ValueError("starts and ends are local times: leave out the UTC offset")
            if self.starts >= self.ends:
                raise ValueError("ends before it starts")
        if not days and self.last_day is not None:
            raise ValueError("last_day needs first_day")
        return self


class Reminders(Spec):
    """Reminder cadence and when outreach may be sent; omit for the service defaults."""

    offsets: list[Duration] | None = Field(
        None, description="Before each appointment; default FRONTDESK_REMINDER_OFFSETS_MINUTES"
    )
    sending_hours: TimeSpan | None = Field(
        None, description="Patient-local window outreach may go out in (quiet outside it)"
    )
    daily_cap: Annotated[int, Field(ge=0, le=20)] = 1
    weekly_cap: Annotated[int, Field(ge=0, le=50)] = 3
    no_show_followup: bool = True
    post_visit_message: str | None = Field(
        None, description="Sent after a completed visit ({practice} is replaced); omit: none"
    )

    @field_validator("offsets")
    @classmethod
    def _offsets_positive(cls, offsets: list[str] | None) -> list[str] | None:
        for offset in offsets or []:
            if duration_minutes(offset) <= 0:
                raise ValueError(f'"{offset}": an offset must be more than zero')
        return offsets

    @field_validator("sending_hours")
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        if value is not None:
            parse_span(value)
        return value


WORDING_FIELDS = {"practice", "when"}


class ExperimentArmSpec(Spec):
    """One arm of a reminder experiment: the control keeps the standard reminders."""

    name: Slug = Field(description="Short name shown on the insights page, e.g. soonest-slot")
    weight: Annotated[int, Field(ge=1, le=100)] = Field(
        1, description="Share of patients, relative to the other arms' weights"
    )
    control: bool = Field(
        False, description="The arm the others are compared with (standard reminders)"
    )
    wording: Annotated[str, Field(min_length=1, max_length=240)] | None = Field(
        None,
        description="The reminder's first sentence ({practice} and {when} are filled in); "
        "the C/R/X answer line always follows",
    )
    offsets: list[Duration] | None = Field(
        None, description="This arm's reminder offsets instead of the practice's"
    )

    @field_validator("wording")
    @classmethod
    def _placeholders(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(
                f"wording: {exc} (write braces only as {{practice}} or {{when}})"
            ) from exc
        unknown = fields - WORDING_FIELDS
        if unknown:
            raise ValueError(
                f"wording: unknown placeholder {{{sorted(unknown)[0]}}}; "
                "use {practice} and {when}"
            )
        if "when" not in fields:
            raise ValueError("wording: say when the visit is with {when}")
        return value

    @field_validator("offsets")
    @classmethod
    def _offsets_positive(cls, offsets: list[str] | None) -> list[str] | None:
        for offset in offsets or []:
            if duration_minutes(offset) <= 0:
                raise ValueError(f'"{offset}": an offset must be more than zero')
        return offsets

    @model_validator(mode="after")
    def _control_is_standard(self) -> ExperimentArmSpec:
        if self.control and (self.wording is not None or self.offsets is not None):
            raise ValueError("the control arm keeps the standard reminders: no wording or offsets")
        if not self.control and self.wording is None and self.offsets is None:
            raise ValueError("an arm other than the control needs wording or offsets")
        return self


class ReminderExperimentSpec(Spec):
    """A reminder experiment: patients are split into arms for visits on these days."""

    key: Slug = Field(description="Stable identifier; changing it starts a new experiment")
    name: Name
    starts_on: date = Field(description="First practice-local day of visits taking part")
    ends_on: date | None = Field(None, description="Last day (inclusive); omit: open-ended")
    arms: list[ExperimentArmSpec] = Field(min_length=2)

    @model_validator(mode="after")
    def _arms(self) -> ReminderExperimentSpec:
        if sum(arm.control for arm in self.arms) != 1:
            raise ValueError("exactly one arm must be the control")
        names = [arm.name for arm in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must differ")
        if self.ends_on is not None and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class SmsNumber(Spec):
    """A Twilio number patients text; inbound texts to it reach this practice."""

    phone: str = Field(description="E.164, e.g. +15555550199")
    messaging_service_sid: str | None = None


class Billing(Spec):
    """Where patients pay and whom they call about bills."""

    payment_link_template: str | None = Field(
        None,
        description="Placeholders {base_url}, {practice}, {account}; "
        "omit: FRONTDESK_PAYMENT_LINK_TEMPLATE",
    )
    phone: str | None = Field(None, description="Billing office phone, E.164")
    payment_methods: str | None = None


class PracticeFile(Spec):
    """A practice, completely: what `apply` makes true and `export` writes back."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Frontdesk practice",
        json_schema_extra={"$id": "https://frontdesk.example/practice.schema.json"},
    )

    slug: Slug = Field(description="Short stable name used in URLs and commands")
    name: Name
    timezone: str = Field(description="IANA zone, e.g. America/New_York")
    phone: str | None = Field(None, description="Main number, E.164")
    office_hours: Week | None = Field(
        None,
        description="When staff answer (handoff messages); omit: from the providers' hours",
    )
    booking: Booking = Field(default_factory=Booking)
    cancellation: Cancellation = Field(default_factory=Cancellation)
    locations: list[LocationSpec] = Field(min_length=1)
    providers: list[ProviderSpec] = []
    visit_types: list[VisitTypeSpec] = []
    exceptions: list[ExceptionSpec] = []
    reminders: Reminders | None = None
    reminder_experiments: list[ReminderExperimentSpec] = Field(
        [], description="Experiments on reminder wording or cadence (one at a time per day)"
    )
    sms_numbers: list[SmsNumber] = []
    widget_origins: list[str] = Field(
        [], description='Websites that may embed the chat widget, e.g. "https://example.org"'
    )
    billing: Billing | None = None
    translations: TranslationsSpec = Field(
        {},
        description="The practice's own texts in other languages, for patients who write in "
        'them, e.g. {"es": {"late_cancel_fee": "..."}}',
    )
    knowledge_folder: str | None = Field(
        None,
        description="Folder of documents for `frontdesk kb ingest`; relative paths are "
        "read from the directory frontdesk runs in",
    )


def practice_json_schema() -> dict[str, object]:
    """The JSON Schema of the format (published as docs/practice.schema.json)."""
    schema = PracticeFile.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
