"""durable patient turns: the queue the dispatcher hands to Rasa, and replies seen per turn

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 07:00:00

Every patient turn (SMS, web chat, identity verdicts) is written to `patient_turns` with the
message that carried it; a dispatcher claims one per conversation under a lease. Texts that
were stored but never handed to the bot before this revision stay with the SMS retry pass
(`inbound_sms.processed_at` is null), which now queues them here.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import frontdesk.db

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = frontdesk.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "patient_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "queued",
                "sending",
                "sent",
                "answered",
                "escalated",
                name="turnstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("next_attempt_at", UTC_TIME, nullable=False),
        sa.Column("lease_until", UTC_TIME, nullable=True),
        sa.Column("finished_at", UTC_TIME, nullable=True),
        sa.Column("waiting_notice_at", UTC_TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_patient_turns_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_patient_turns_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_patient_turns_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_turns")),
        sa.UniqueConstraint("message_id", name=op.f("uq_patient_turns_message_id")),
    )
    op.create_index("ix_patient_turns_due", "patient_turns", ["state", "next_attempt_at"])
    op.create_index("ix_patient_turns_conversation", "patient_turns", ["conversation_id", "id"])
    op.create_table(
        "turn_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("turn_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["turn_id"],
            ["patient_turns.id"],
            name=op.f("fk_turn_replies_turn_id_patient_turns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_turn_replies")),
        sa.UniqueConstraint("turn_id", "digest", name=op.f("uq_turn_replies_turn_id_digest")),
    )


def downgrade() -> None:
    op.drop_table("turn_replies")
    op.drop_index("ix_patient_turns_conversation", table_name="patient_turns")
    op.drop_index("ix_patient_turns_due", table_name="patient_turns")
    op.drop_table("patient_turns")
