"""The practice admin forms' fields, to and from parts of the practice document.

Field names follow the document's keys (`hours.monday`, `min_lead_minutes`), so a problem the
practice-file check reports under `providers[2].hours.monday[0]` lands on the field of that
name. Blank optional fields are left out of the document, as a person writing the file would.
"""

from __future__ import annotations

from typing import Any

from frontdesk.practices.config.schema import WEEKDAYS
from frontdesk.scheduling.models import PatientRule

Form = dict[str, str]
Doc = dict[str, Any]

PROVIDER_FIELDS = ["name", "specialty", "location", "active", *(f"hours.{d}" for d in WEEKDAYS)]
RULE_FIELDS = [
    "min_lead_minutes",
    "max_horizon_days",
    "buffer_before_minutes",
    "buffer_after_minutes",
]
VISIT_FIELDS = ["code", "name", "minutes", "keywords", "patients", "providers", *RULE_FIELDS]
EXCEPTION_FIELDS = ["provider", "first_day", "last_day", "starts", "ends", "reason"]
REMINDER_FIELDS = [
    "offsets",
    "sending_hours",
    "daily_cap",
    "weekly_cap",
    "no_show_followup",
    "post_visit_message",
]
CHANNEL_FIELDS = ["sms_numbers", "widget_origins"]


def split_list(text: str, sep: str = ",") -> list[str]:
    """Comma- (or line-) separated form text as a list, blanks dropped."""
    return [part.strip() for part in text.replace("\n", sep).split(sep) if part.strip()]


def set_optional(item: Doc, key: str, value: str) -> None:
    """Optional keys: blank leaves them out (the file's default), as a person writes it."""
    if value.strip():
        item[key] = value.strip()


def provider_values(item: Doc) -> Form:
    """A provider of the document as the provider form's fields."""
    values = {
        "name": item.get("name", ""),
        "specialty": item.get("specialty", ""),
        "location": item.get("location", ""),
        "active": "on" if item.get("active", True) else "",
    }
    for day in WEEKDAYS:
        values[f"hours.{day}"] = ", ".join(item.get("hours", {}).get(day, []))
    return values


def provider_item(form: Form, name: str) -> Doc:
    """The provider form as a provider of the document (retired: Bookable unticked)."""
    item: Doc = {"name": name, "location": form.get("location", ""), "active": "active" in form}
    set_optional(item, "specialty", form.get("specialty", ""))
    hours = {day: split_list(form.get(f"hours.{day}", "")) for day in WEEKDAYS}
    item["hours"] = {day: spans for day, spans in hours.items() if spans}
    return item


def visit_values(item: Doc, providers: list[str]) -> Form:
    """A visit type as the form's fields; `offer.N` ticks the Nth provider."""
    values = {
        "code": item.get("code", ""),
        "name": item.get("name", ""),
        "names.es": item.get("names", {}).get("es", ""),
        "minutes": str(item.get("minutes", "")),
        "keywords": ", ".join(item.get("keywords", [])),
        "patients": str(item.get("patients", PatientRule.ANY)),
        "active": "on" if item.get("active", True) else "",
    }
    for key in RULE_FIELDS:
        values[key] = str(item.get(key, ""))
    for index, name in enumerate(providers):
        values[f"offer.{index}"] = "on" if name in item.get("providers", []) else ""
    return values


def visit_item(form: Form, code: str, providers: list[str]) -> Doc:
    """The visit type form as a visit type of the document."""
    item: Doc = {
        "code": code,
        "name": form.get("name", "").strip(),
        "minutes": form.get("minutes", "").strip(),
        "keywords": split_list(form.get("keywords", "")),
        "patients": form.get("patients", str(PatientRule.ANY)),
        "providers": [name for i, name in enumerate(providers) if f"offer.{i}" in form],
        "active": "active" in form,
    }
    for key in RULE_FIELDS:
        set_optional(item, key, form.get(key, ""))
    if spanish := form.get("names.es", "").strip():
        item["names"] = {"es": spanish}
    return item


def provider_names(doc: Doc) -> list[str]:
    """The practice's providers, in document order (the `offer.N` boxes follow it)."""
    return [provider["name"] for provider in doc.get("providers", [])]


def exception_item(form: Form) -> Doc:
    """The time-off form as an exception of the document."""
    item: Doc = {"reason": form.get("reason", "").strip()}
    for key in ("provider", "first_day", "last_day", "starts", "ends"):
        set_optional(item, key, form.get(key, ""))
    return item


def exception_key(item: Doc) -> str:
    """Which exception a remove button means (the list may change between page and click)."""
    return "|".join(str(item.get(k, "")) for k in ("provider", "first_day", "starts", "ends"))


def reminder_values(item: Doc | None) -> Form:
    """The reminders part as the form's fields (no part: the file's defaults)."""
    item = item or {}
    return {
        "offsets": ", ".join(item.get("offsets", [])),
        "sending_hours": item.get("sending_hours", ""),
        "daily_cap": str(item.get("daily_cap", 1)),
        "weekly_cap": str(item.get("weekly_cap", 3)),
        "no_show_followup": "on" if item.get("no_show_followup", True) else "",
        "post_visit_message": item.get("post_visit_message", ""),
    }


def channel_values(doc: Doc) -> Form:
    """SMS numbers and widget origins as the form's two text areas."""
    numbers = [
        " ".join(filter(None, (n["phone"], n.get("messaging_service_sid"))))
        for n in doc.get("sms_numbers", [])
    ]
    return {
        "sms_numbers": "\n".join(numbers),
        "widget_origins": "\n".join(doc.get("widget_origins", [])),
    }


def reminder_item(form: Form) -> Doc:
    """The `reminders` part of the document, from the reminders form."""
    item: Doc = {
        "daily_cap": form.get("daily_cap", "").strip(),
        "weekly_cap": form.get("weekly_cap", "").strip(),
        "no_show_followup": "no_show_followup" in form,
    }
    if offsets := split_list(form.get("offsets", "")):
        item["offsets"] = offsets
    set_optional(item, "sending_hours", form.get("sending_hours", ""))
    set_optional(item, "post_visit_message", form.get("post_visit_message", ""))
    return item


def sms_number_items(form: Form) -> list[Doc]:
    """`sms_numbers`, from one `+1555... [messaging service sid]` a line."""
    numbers = []
    for line in split_list(form.get("sms_numbers", ""), "\n"):
        phone, _, sid = line.partition(" ")
        numbers.append({"phone": phone, **({"messaging_service_sid": sid.strip()} if sid else {})})
    return numbers
