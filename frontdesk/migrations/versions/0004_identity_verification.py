"""one-time codes and verification attempts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import frontdesk.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column],
        [f"{target}.id"],
        name=op.f(f"fk_{table}_{column}_{target}"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "verification_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("code_salt", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("wrong_attempts", sa.Integer(), nullable=False),
        sa.Column("closed_at", frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        _fk("verification_codes", "conversation_id", "conversations"),
        _fk("verification_codes", "patient_id", "patients"),
        _fk("verification_codes", "practice_id", "practices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_codes")),
    )
    op.create_index(
        "ix_verification_codes_conversation",
        "verification_codes",
        ["conversation_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "verification_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        _fk("verification_attempts", "conversation_id", "conversations"),
        _fk("verification_attempts", "practice_id", "practices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_attempts")),
    )
    op.create_index(
        "ix_verification_attempts_conversation",
        "verification_attempts",
        ["conversation_id", "at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_verification_attempts_conversation", table_name="verification_attempts")
    op.drop_table("verification_attempts")
    op.drop_index("ix_verification_codes_conversation", table_name="verification_codes")
    op.drop_table("verification_codes")
