"""The canonical form of a practice file, and the YAML text `export` writes.

Two files that describe the same practice have the same canonical form: lists that are sets
in the database (providers, hours, exceptions, origins, ...) are sorted, and a one-day
exception has no `last_day`. Comparing canonical forms is how `apply` knows nothing changed,
and how the round-trip test knows `export` wrote back exactly what was applied.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from typing import Any

from ruamel.yaml.comments import CommentedSeq

from frontdesk.practices.config.loading import yaml_parser
from frontdesk.practices.config.schema import (
    WEEKDAYS,
    ExceptionSpec,
    PracticeFile,
    Week,
    parse_span,
)

SCHEMA_COMMENT = "# yaml-language-server: $schema=https://frontdesk.example/practice.schema.json\n"


def canonical_week(week: Week) -> Week:
    """Each day's spans in time order."""
    return Week(**{day: sorted(getattr(week, day), key=parse_span) for day in WEEKDAYS})


def _exception_key(spec: ExceptionSpec) -> tuple[datetime, str]:
    start = spec.starts or datetime.combine(spec.first_day or date.min, datetime.min.time())
    return start, spec.provider or ""


def canonical(practice: PracticeFile) -> PracticeFile:
    """The one form of `practice` that `export` writes."""
    order = {provider.name: index for index, provider in enumerate(practice.providers)}
    return practice.model_copy(
        update={
            "office_hours": (
                canonical_week(practice.office_hours) if practice.office_hours else None
            ),
            "locations": sorted(practice.locations, key=lambda loc: loc.name),
            "providers": sorted(
                (
                    provider.model_copy(update={"hours": canonical_week(provider.hours)})
                    for provider in practice.providers
                ),
                key=lambda provider: provider.name,
            ),
            "visit_types": sorted(
                (
                    visit.model_copy(
                        update={
                            "providers": sorted(
                                visit.providers, key=lambda name: (order.get(name, -1), name)
                            )
                        }
                    )
                    for visit in practice.visit_types
                ),
                key=lambda visit: visit.code,
            ),
            "exceptions": sorted(
                (
                    spec.model_copy(update={"last_day": None})
                    if spec.last_day is not None and spec.last_day == spec.first_day
                    else spec
                    for spec in practice.exceptions
                ),
                key=_exception_key,
            ),
            "reminder_experiments": sorted(
                practice.reminder_experiments, key=lambda experiment: experiment.key
            ),
            "sms_numbers": sorted(practice.sms_numbers, key=lambda number: number.phone),
            "widget_origins": sorted(practice.widget_origins),
        }
    )


def practice_data(practice: PracticeFile) -> dict[str, Any]:
    """The canonical practice as plain data, without defaults (what a person would write)."""
    data: dict[str, Any] = canonical(practice).model_dump(
        mode="python", exclude_defaults=True, exclude_none=True
    )
    # Enums as their values and local date-times in ISO form keep the YAML plain.
    for visit in data.get("visit_types", []):
        if "patients" in visit:
            visit["patients"] = str(visit["patients"])
    for spec in data.get("exceptions", []):
        for key in ("starts", "ends"):
            if key in spec:
                spec[key] = spec[key].isoformat(timespec="minutes")
    return data


def _flow_lists(node: Any) -> Any:
    """Lists of plain values on one line (`[08:30-12:00, 13:00-17:00]`), as people write them."""
    if isinstance(node, dict):
        return {key: _flow_lists(value) for key, value in node.items()}
    if isinstance(node, list):
        items = [_flow_lists(item) for item in node]
        if items and all(isinstance(item, str | int) for item in items):
            flow = CommentedSeq(items)
            flow.fa.set_flow_style()
            return flow
        return items
    return node


def to_yaml(practice: PracticeFile) -> str:
    """The canonical YAML text of a practice (what `frontdesk practice export` prints)."""
    parser = yaml_parser()
    parser.indent(mapping=2, sequence=4, offset=2)
    parser.width = 100
    out = io.StringIO()
    parser.dump(_flow_lists(practice_data(practice)), out)
    return SCHEMA_COMMENT + out.getvalue()
