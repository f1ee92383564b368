"""The admin audit page and its exports, through HTTP."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

from sqlalchemy import text

from frontdesk.audit.service import audit_key_for, chain_hash, record_audit
from frontdesk.auth.models import StaffRole
from tests.auth.support import Console

ADMIN = "admin@example.org"


def admin(console: Console) -> int:
    actor = console.add_staff(ADMIN, StaffRole.ADMIN, name="Avery Admin")
    assert console.sign_in(ADMIN).status_code == 303
    return actor


def record_views(console: Console, actor: int, count: int, *, reason: str = "queue") -> None:
    with console.db() as db:
        for n in range(count):
            record_audit(
                session=db,
                actor_id=actor,
                action="conversation.view",
                subject_type="conversation",
                subject_id=f"c_{n}",
                reason=reason,
                now=console.clock() + timedelta(minutes=n),
            )


def test_the_page_lists_filters_pages_and_verifies(console: Console) -> None:
    actor = admin(console)
    record_views(console, actor, 60)
    with console.db() as db:
        record_audit(
            session=db,
            actor_id=actor,
            action="patient.view",
            subject_type="patient",
            subject_id="7",
            reason="context panel",
            now=console.clock() + timedelta(days=3),
        )
    page = console.client.get("/console/audit")
    assert page.status_code == 200
    # sign-in + 60 views + 1 patient view + this view of the log itself
    assert "The chain verifies: 63 events" in page.text
    assert "63 matching events" in page.text
    assert "Page 1 of 2" in page.text
    assert page.text.count("<tr>") == 1 + 50
    second = console.client.get("/console/audit", params={"page": 2})
    assert second.text.count("<tr>") == 1 + 14  # and the view of page 2
    assert "staff.sign_in" in second.text

    only = console.client.get("/console/audit", params={"action": "patient.view"})
    assert "1 matching event," in only.text and "context panel" in only.text
    by_day = console.client.get("/console/audit", params={"from": "2026-12-01"})
    assert "1 matching event," in by_day.text
    by_subject = console.client.get("/console/audit", params={"subject_id": "c_7"})
    assert "1 matching event," in by_subject.text
    assert console.client.get("/console/audit", params={"from": "yesterday"}).status_code == 400


def test_untrusted_text_in_the_log_renders_inert(console: Console) -> None:
    actor = admin(console)
    record_views(console, actor, 1, reason='<script>alert("x")</script>')
    page = console.client.get("/console/audit")
    assert '<script>alert("x")</script>' not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text


def test_a_broken_chain_is_shown(console: Console) -> None:
    actor = admin(console)
    record_views(console, actor, 3)
    with console.engine.begin() as connection:  # tamper behind the triggers' back
        connection.execute(text("DROP TRIGGER audit_events_no_update"))
        connection.execute(text("UPDATE audit_events SET reason = 'nothing' WHERE seq = 3"))
    page = console.client.get("/console/audit")
    assert "The chain is broken at event 3" in page.text
    assert "changed" in page.text


def test_exports_carry_what_a_verifier_needs_and_are_audited(console: Console) -> None:
    actor = admin(console)
    record_views(console, actor, 3, reason="=HYPERLINK(evil)")
    response = console.client.get("/console/audit/export", params={"format": "jsonl"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert "attachment" in response.headers["content-disposition"]
    records = [json.loads(line) for line in response.text.splitlines()]
    # The export itself is the newest event, written before the rows are read.
    assert [r["action"] for r in records] == ["staff.sign_in"] + ["conversation.view"] * 3 + [
        "audit.export"
    ]
    assert records[-1]["reason"] == "export jsonl"
    prev = "0" * 64
    for record in records:  # a verifier with the audit key recomputes the chain from the export
        fields = {
            k: record[k]
            for k in (
                "practice_id",
                "seq",
                "actor_id",
                "action",
                "subject_type",
                "subject_id",
                "reason",
                "at",
            )
        }
        assert record["prev_hash"] == prev
        assert chain_hash(prev, fields, audit_key_for(console.settings)) == record["hash"]
        prev = record["hash"]

    as_csv = console.client.get(
        "/console/audit/export", params={"format": "csv", "action": "conversation.view"}
    )
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert len(rows) == 3 and rows[0]["actor_name"] == "Avery Admin"
    assert rows[0]["reason"] == "'=HYPERLINK(evil)"  # no formula runs in a spreadsheet
    assert console.client.get("/console/audit/export", params={"format": "xml"}).status_code == 422
