"""The knowledge documents admin page through HTTP: upload, refuse, replace, delete, re-index,
progress, and a patient's question answered from the new document by the bot's action."""

from __future__ import annotations

from typing import Any

import httpx2
from sqlalchemy import select

from frontdesk.audit.models import AuditEvent
from frontdesk.auth.models import StaffRole
from frontdesk.models import Practice
from tests import factories
from tests.auth.support import TOKEN, Console
from tests.doubles import bot_domain

ADMIN = "avery.admin@example.org"
PAGE = "/console/admin/knowledge"
BIKES = (
    b"# Bicycles\n\n## Bicycle rack\n"
    b"Patients who cycle can lock their bicycle at the covered rack beside the north entrance, "
    b"next to the pharmacy door. Bring your own lock.\n"
)
QUESTION = "where can I lock my bicycle?"


def admin_signed_in(console: Console) -> None:
    console.add_staff(ADMIN, StaffRole.ADMIN, name="Avery Admin")
    assert console.sign_in(ADMIN).status_code == 303


def upload(console: Console, name: str, body: bytes, *, replace: bool = False) -> httpx2.Response:
    return console.client.post(
        f"{PAGE}/documents/{name}",
        params={"replace": "true"} if replace else None,
        content=body,
        headers={
            "X-CSRF-Token": console.page_csrf(PAGE),
            "Content-Type": "application/octet-stream",
        },
    )


def status(console: Console) -> dict[str, Any]:
    body: dict[str, Any] = console.client.get(f"{PAGE}/status").json()
    return body


def ask_the_bot(console: Console, question: str) -> dict[str, Any]:
    """Run action_answer_question as Rasa would, for a web chat of the demo practice."""
    with console.db() as db:
        practice = db.get_one(Practice, console.practice_id)
        sender = factories.conversation(db, practice=practice).public_id
    call = {
        "next_action": "action_answer_question",
        "sender_id": sender,
        "version": "3.6.21",
        "domain": bot_domain(),
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": {
                "intent": {"name": "ask_question", "confidence": 1.0},
                "entities": [],
                "text": question,
            },
            "events": [],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }
    response = console.client.post(
        "/internal/rasa/actions", json=call, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200
    reply: dict[str, Any] = response.json()["responses"][0]
    return reply


def test_only_admins_manage_documents(console: Console) -> None:
    console.add_staff("dana@example.org", StaffRole.MANAGER)
    assert console.client.get(PAGE, follow_redirects=False).status_code == 401
    assert console.sign_in("dana@example.org").status_code == 303
    assert console.client.get(PAGE).status_code == 403
    assert console.client.get(f"{PAGE}/status").status_code == 403
    headers = {"X-CSRF-Token": console.page_csrf("/console")}
    refused = console.client.post(f"{PAGE}/documents/bikes.md", content=BIKES, headers=headers)
    assert refused.status_code == 403


def test_an_uploaded_document_answers_patients(console: Console) -> None:
    admin_signed_in(console)
    page = console.client.get(PAGE)
    assert page.status_code == 200
    assert "parking.md" in page.text  # seeded from the demo practice's documents
    assert status(console)["state"] == "idle"
    assert ask_the_bot(console, QUESTION).get("source") != "bikes.md"

    assert upload(console, "bikes.md", BIKES).status_code == 202
    done = status(console)
    assert (
        done["state"] == "done" and done["total"] == done["done"] == 16
    )  # the demo's 15 documents (12 English, 3 Spanish) and the upload
    assert "1 added" in done["message"]
    listed = console.client.get(PAGE).text
    assert 'data-document="bikes.md"' in listed and "Re-index finished" in listed

    reply = ask_the_bot(console, QUESTION)
    assert reply["response"] == "utter_kb_answer"
    assert reply["source"] == "bikes.md"
    assert "north entrance" in reply["answer"]
    with console.db() as db:
        actions = list(
            db.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == "bikes.md"))
        )
    assert actions == ["knowledge.upload"]


def test_replace_delete_and_reindex(console: Console) -> None:
    admin_signed_in(console)
    assert upload(console, "bikes.md", BIKES).status_code == 202
    assert upload(console, "bikes.md", BIKES).status_code == 409  # replacing is explicit
    moved = BIKES.replace(b"north entrance", b"south car park")
    assert upload(console, "bikes.md", moved, replace=True).status_code == 202
    assert "1 updated" in status(console)["message"]
    assert "south car park" in ask_the_bot(console, QUESTION)["answer"]

    token = console.page_csrf(PAGE)
    gone = console.client.post(
        f"{PAGE}/documents/bikes.md/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert gone.status_code == 303
    assert "1 removed" in status(console)["message"]
    assert ask_the_bot(console, QUESTION).get("source") != "bikes.md"
    missing = console.client.post(f"{PAGE}/documents/bikes.md/delete", data={"csrf_token": token})
    assert missing.status_code == 404

    again = console.client.post(
        f"{PAGE}/reindex", data={"csrf_token": token}, follow_redirects=False
    )
    assert again.status_code == 303
    assert status(console)["state"] == "done" and "15 unchanged" in status(console)["message"]


def test_refused_uploads_say_why_and_store_nothing(console: Console) -> None:
    admin_signed_in(console)
    phi = b"# Follow-up\n\nPatient Jane Example, DOB 03/14/1980, MRN 12345678, needs a call.\n"
    refused = upload(console, "follow-up.md", phi)
    assert refused.status_code == 422
    assert "date of birth" in refused.json()["error"]
    assert upload(console, "notes.docx", BIKES).status_code == 415
    assert upload(console, "..hidden.md", BIKES).status_code == 400
    assert upload(console, "big.md", b"a" * (2 * 1024 * 1024 + 1)).status_code == 413
    assert upload(console, "broken.pdf", b"%PDF-1.4 not really").status_code == 400
    assert upload(console, "empty.md", b"  \n").status_code == 400
    listed = console.client.get(PAGE).text
    for name in ("follow-up.md", "notes.docx", "big.md", "broken.pdf", "empty.md"):
        assert f'data-document="{name}"' not in listed
    assert status(console)["state"] == "idle"
