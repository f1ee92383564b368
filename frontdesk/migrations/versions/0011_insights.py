"""insight events, per-practice insight assumptions, conversations by creation/escalation

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import frontdesk.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = (
    "bot_booked",
    "bot_rescheduled",
    "bot_cancelled",
    "bot_confirmed",
    "kb_answered",
    "kb_abstained",
    "no_show_marked",
)


def upgrade() -> None:
    op.create_table(
        "insight_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(*_KINDS, name="insightkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_insight_events_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_insight_events_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_insight_events_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight_events")),
    )
    op.create_index(
        "ix_insight_events_practice_at",
        "insight_events",
        ["practice_id", "at", "kind", "channel"],
        unique=False,
    )
    op.create_index(
        op.f("ix_insight_events_appointment_id"), "insight_events", ["appointment_id"], unique=False
    )
    op.create_table(
        "insight_assumptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("minutes_per_booking", sa.Integer(), nullable=False),
        sa.Column("minutes_per_reschedule", sa.Integer(), nullable=False),
        sa.Column("minutes_per_cancellation", sa.Integer(), nullable=False),
        sa.Column("minutes_per_confirmation", sa.Integer(), nullable=False),
        sa.Column("minutes_per_question", sa.Integer(), nullable=False),
        sa.Column("visit_value_cents", sa.Integer(), nullable=False),
        sa.Column("refill_credit_percent", sa.Integer(), nullable=False),
        sa.Column("reschedule_credit_percent", sa.Integer(), nullable=False),
        sa.Column("updated_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_insight_assumptions_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["updated_by"],
            ["staff_users.id"],
            name=op.f("fk_insight_assumptions_updated_by_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_insight_assumptions")),
        sa.UniqueConstraint("practice_id", name=op.f("uq_insight_assumptions_practice_id")),
    )
    op.create_index(
        "ix_conversations_practice_created",
        "conversations",
        ["practice_id", "created_at", "channel", "escalated_at"],
        unique=False,
    )
    op.create_index(
        "ix_conversations_practice_escalated",
        "conversations",
        ["practice_id", "escalated_at", "channel", "escalation_reason", "first_reply_at"],
        unique=False,
    )

    for name, table, columns in _READ_INDEXES:
        op.create_index(name, table, columns, unique=False)


# Indexes on other domains' tables for the page's range counts (see frontdesk.insights.models).
_READ_INDEXES = (
    (
        "ix_scheduled_reminders_practice_sent",
        "scheduled_reminders",
        ["practice_id", "sent_at", "kind", "status"],
    ),
    (
        "ix_scheduled_reminders_appointment_sent",
        "scheduled_reminders",
        ["appointment_id", "kind", "status", "sent_at"],
    ),
    (
        "ix_appointments_practice_status_start",
        "appointments",
        ["practice_id", "status", "start_at"],
    ),
    ("ix_appointments_practice_confirmed", "appointments", ["practice_id", "confirmed_at"]),
    ("ix_appointments_practice_cancelled", "appointments", ["practice_id", "cancelled_at"]),
)


def downgrade() -> None:
    for name, table, _columns in reversed(_READ_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index("ix_conversations_practice_escalated", table_name="conversations")
    op.drop_index("ix_conversations_practice_created", table_name="conversations")
    op.drop_table("insight_assumptions")
    op.drop_index(op.f("ix_insight_events_appointment_id"), table_name="insight_events")
    op.drop_index("ix_insight_events_practice_at", table_name="insight_events")
    op.drop_table("insight_events")
