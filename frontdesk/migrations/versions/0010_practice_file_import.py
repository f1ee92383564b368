"""practice file settings, patient import ids and duplicate flags

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import frontdesk.db

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("practices", sa.Column("office_hours", sa.JSON(), nullable=True))
    op.add_column("practices", sa.Column("knowledge_folder", sa.String(length=300), nullable=True))
    op.add_column("patients", sa.Column("external_id", sa.String(length=64), nullable=True))
    op.add_column("patients", sa.Column("preferred_language", sa.String(length=16), nullable=True))
    op.create_index("ux_patients_external", "patients", ["practice_id", "external_id"], unique=True)
    op.create_table(
        "patient_duplicate_flags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("other_patient_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_patient_duplicate_flags_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_duplicate_flags_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["other_patient_id"],
            ["patients.id"],
            name=op.f("fk_patient_duplicate_flags_other_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_duplicate_flags")),
        sa.UniqueConstraint(
            "patient_id",
            "other_patient_id",
            name=op.f("uq_patient_duplicate_flags_patient_id_other_patient_id"),
        ),
    )


def downgrade() -> None:
    op.drop_table("patient_duplicate_flags")
    op.drop_index("ux_patients_external", table_name="patients")
    # Plain column drops (SQLite >= 3.35 drops in place; a batch rebuild of `patients` would
    # cascade-delete the rows that reference it).
    op.drop_column("patients", "preferred_language")
    op.drop_column("patients", "external_id")
    op.drop_column("practices", "knowledge_folder")
    op.drop_column("practices", "office_hours")
