"""issue 6 — staff users, handoff, audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import frontdesk.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # --- E2: staff users, sessions, audit log (must stay before E1's block) ---
    # --- end E2 ---
    # --- E1: handoff (references staff_users, created above) ---
    _upgrade_handoff()
    # --- end E1 ---


def downgrade() -> None:
    # --- E1: handoff ---
    _downgrade_handoff()
    # --- end E1 ---
    # --- E2: staff users, sessions, audit log ---
    # --- end E2 ---


# --- E1: handoff -------------------------------------------------------------------------

_HANDOFF_COLUMNS = (
    "status",
    "escalation_reason",
    "escalation_detail",
    "escalated_at",
    "waiting_since",
    "claimed_at",
    "first_reply_at",
    "resolved_at",
)
_ASSIGNEE_FK = "fk_conversations_assignee_staff_id_staff_users"


def _upgrade_handoff() -> None:
    """Handoff state on conversations, and staff's internal notes."""
    op.add_column(
        "conversations",
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
    )
    op.add_column(
        "conversations", sa.Column("escalation_reason", sa.String(length=32), nullable=True)
    )
    op.add_column(
        "conversations", sa.Column("escalation_detail", sa.String(length=200), nullable=True)
    )
    for name in ("escalated_at", "waiting_since", "claimed_at", "first_reply_at", "resolved_at"):
        op.add_column(
            "conversations",
            sa.Column(name, frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        )
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        # SQLite cannot add a constraint to an existing table, and rebuilding `conversations`
        # (batch mode) would cascade-delete its messages; a column may carry its reference.
        # A downgrade on SQLite leaves the column behind (see below), so it may exist.
        if "assignee_staff_id" not in {
            c["name"] for c in sa.inspect(bind).get_columns("conversations")
        }:
            op.execute(
                "ALTER TABLE conversations ADD COLUMN assignee_staff_id INTEGER "
                f"CONSTRAINT {_ASSIGNEE_FK} REFERENCES staff_users (id)"
            )
    else:
        op.add_column("conversations", sa.Column("assignee_staff_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            _ASSIGNEE_FK, "conversations", "staff_users", ["assignee_staff_id"], ["id"]
        )
    # Conversations staff already owned before handoff had a status are open ones.
    op.execute("UPDATE conversations SET status = 'open' WHERE owner = 'staff'")
    op.create_index("ix_conversations_practice_status", "conversations", ["practice_id", "status"])
    op.create_table(
        "conversation_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("author_staff_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_staff_id"],
            ["staff_users.id"],
            name=op.f("fk_conversation_notes_author_staff_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_notes_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_conversation_notes_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_notes")),
    )
    op.create_index(
        "ix_conversation_notes_conversation",
        "conversation_notes",
        ["conversation_id", "id"],
    )


def _downgrade_handoff() -> None:
    op.drop_index("ix_conversation_notes_conversation", table_name="conversation_notes")
    op.drop_table("conversation_notes")
    op.drop_index("ix_conversations_practice_status", table_name="conversations")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite refuses to drop a column that carries a reference, and rebuilding the table
        # would cascade-delete messages: the (empty) assignee column stays behind, unused.
        op.execute("UPDATE conversations SET assignee_staff_id = NULL")
    else:
        op.drop_constraint(_ASSIGNEE_FK, "conversations", type_="foreignkey")
        op.drop_column("conversations", "assignee_staff_id")
    for name in _HANDOFF_COLUMNS:
        op.drop_column("conversations", name)
