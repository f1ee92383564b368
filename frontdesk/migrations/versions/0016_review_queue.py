"""NLU result of every patient turn, and the review queue of turns the bot misunderstood

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import frontdesk.db

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "nlu_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("rasa_message_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=True),
        sa.Column("at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_nlu_turns_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_nlu_turns_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_nlu_turns")),
        sa.UniqueConstraint("rasa_message_id", name=op.f("uq_nlu_turns_rasa_message_id")),
    )
    op.create_index(
        op.f("ix_nlu_turns_conversation_id"), "nlu_turns", ["conversation_id"], unique=False
    )
    op.create_index("ix_nlu_turns_practice_at", "nlu_turns", ["practice_id", "at"], unique=False)
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("nlu_turn_id", sa.Integer(), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "fallback",
                "low_confidence",
                "corrected",
                "misunderstood",
                name="reviewreason",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open", "labelled", "dismissed", name="reviewstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("reviewed_by", sa.Integer(), nullable=True),
        sa.Column("reviewed_at", frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["nlu_turn_id"],
            ["nlu_turns.id"],
            name=op.f("fk_review_items_nlu_turn_id_nlu_turns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_review_items_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by"],
            ["staff_users.id"],
            name=op.f("fk_review_items_reviewed_by_staff_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint("nlu_turn_id", name=op.f("uq_review_items_nlu_turn_id")),
    )
    op.create_index(
        "ix_review_items_practice_status",
        "review_items",
        ["practice_id", "status"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_review_items_practice_status", table_name="review_items")
    op.drop_table("review_items")
    op.drop_index("ix_nlu_turns_practice_at", table_name="nlu_turns")
    op.drop_index(op.f("ix_nlu_turns_conversation_id"), table_name="nlu_turns")
    op.drop_table("nlu_turns")
