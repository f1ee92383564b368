"""scheduling engine: exceptions, buffers, booking rules, waitlist

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 11:00:00
"""

from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

import frontdesk.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _keep_blocks_while(recreate: Callable[[], None]) -> None:
    """Run a batch recreate of `appointments` without losing its blocks on SQLite.

    SQLite rebuilds the table (copy, DROP, rename); with foreign keys on, the DROP cascades
    to `appointment_blocks`, which would silently re-open every booked slot.
    """
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMP TABLE _keep_blocks AS SELECT * FROM appointment_blocks")
    recreate()
    if sqlite:
        op.execute("DELETE FROM appointment_blocks")
        op.execute("INSERT INTO appointment_blocks SELECT * FROM _keep_blocks")
        op.execute("DROP TABLE _keep_blocks")


def upgrade() -> None:
    with op.batch_alter_table("practices") as batch_op:
        batch_op.add_column(
            sa.Column("late_cancel_hours", sa.Integer(), server_default="24", nullable=False)
        )
        batch_op.add_column(sa.Column("late_cancel_fee_text", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "default_buffer_before_minutes", sa.Integer(), server_default="0", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column(
                "default_buffer_after_minutes", sa.Integer(), server_default="0", nullable=False
            )
        )

    with op.batch_alter_table("visit_types") as batch_op:
        batch_op.add_column(sa.Column("min_lead_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("max_horizon_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("buffer_before_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("buffer_after_minutes", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "patient_rule",
                sa.Enum(
                    "any",
                    "new",
                    "established",
                    name="patientrule",
                    native_enum=False,
                    length=16,
                ),
                server_default="any",
                nullable=False,
            )
        )

    def recreate_appointments() -> None:
        with op.batch_alter_table("appointments", recreate="auto") as batch_op:
            batch_op.add_column(sa.Column("external_id", sa.String(length=64), nullable=True))
            batch_op.add_column(
                sa.Column("confirmed_at", frontdesk.db.UTCDateTime(timezone=True), nullable=True)
            )
            batch_op.add_column(sa.Column("cancelled_by", sa.String(length=16), nullable=True))
            batch_op.add_column(sa.Column("cancel_reason", sa.String(length=500), nullable=True))
            batch_op.add_column(
                sa.Column("late_cancel", sa.Boolean(), server_default="0", nullable=False)
            )
            batch_op.alter_column("patient_id", existing_type=sa.Integer(), nullable=True)
            batch_op.alter_column("visit_type_id", existing_type=sa.Integer(), nullable=True)
            batch_op.create_check_constraint(
                op.f("ck_appointments_patient_known"),
                "source = 'ehr' OR (patient_id IS NOT NULL AND visit_type_id IS NOT NULL)",
            )
            batch_op.create_index(
                "ux_appointments_external", ["practice_id", "external_id"], unique=True
            )

    _keep_blocks_while(recreate_appointments)

    op.create_table(
        "visit_type_providers",
        sa.Column("visit_type_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_visit_type_providers_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_visit_type_providers_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visit_type_id"],
            ["visit_types.id"],
            name=op.f("fk_visit_type_providers_visit_type_id_visit_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "visit_type_id", "provider_id", name=op.f("pk_visit_type_providers")
        ),
    )

    op.create_table(
        "schedule_exceptions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("start_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.CheckConstraint("start_at < end_at", name=op.f("ck_schedule_exceptions_order")),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_schedule_exceptions_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_schedule_exceptions_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_exceptions")),
    )
    op.create_index(
        "ix_schedule_exceptions_practice_start",
        "schedule_exceptions",
        ["practice_id", "start_at"],
        unique=False,
    )

    op.create_table(
        "waitlist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("visit_type_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("preference_text", sa.String(length=500), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("weekdays", sa.SmallInteger(), nullable=False),
        sa.Column("earliest", sa.Time(), nullable=True),
        sa.Column("latest", sa.Time(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "waiting",
                "booked",
                "removed",
                "expired",
                name="waitliststatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_waitlist_entries_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_waitlist_entries_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_waitlist_entries_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["visit_type_id"],
            ["visit_types.id"],
            name=op.f("fk_waitlist_entries_visit_type_id_visit_types"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
    )
    op.create_index(
        "ix_waitlist_entries_practice_status",
        "waitlist_entries",
        ["practice_id", "status", "created_at"],
        unique=False,
    )

    op.create_table(
        "waitlist_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("start_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("batch", sa.SmallInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "accepted",
                "declined",
                "gone",
                "expired",
                name="offerstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_waitlist_offers_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["waitlist_entries.id"],
            name=op.f("fk_waitlist_offers_entry_id_waitlist_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_waitlist_offers_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["providers.id"],
            name=op.f("fk_waitlist_offers_provider_id_providers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_offers")),
        sa.UniqueConstraint("token", name=op.f("uq_waitlist_offers_token")),
    )
    op.create_index(
        op.f("ix_waitlist_offers_entry_id"), "waitlist_offers", ["entry_id"], unique=False
    )
    op.create_index(
        "ix_waitlist_offers_provider_start",
        "waitlist_offers",
        ["provider_id", "start_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_waitlist_offers_provider_start", table_name="waitlist_offers")
    op.drop_index(op.f("ix_waitlist_offers_entry_id"), table_name="waitlist_offers")
    op.drop_table("waitlist_offers")
    op.drop_index("ix_waitlist_entries_practice_status", table_name="waitlist_entries")
    op.drop_table("waitlist_entries")
    op.drop_index("ix_schedule_exceptions_practice_start", table_name="schedule_exceptions")
    op.drop_table("schedule_exceptions")
    op.drop_table("visit_type_providers")

    # EHR-only rows may have no patient or visit type; they cannot survive NOT NULL columns.
    op.execute("DELETE FROM appointments WHERE patient_id IS NULL OR visit_type_id IS NULL")

    def recreate_appointments() -> None:
        with op.batch_alter_table("appointments", recreate="auto") as batch_op:
            batch_op.drop_index("ux_appointments_external")
            batch_op.drop_constraint(op.f("ck_appointments_patient_known"), type_="check")
            batch_op.alter_column("patient_id", existing_type=sa.Integer(), nullable=False)
            batch_op.alter_column("visit_type_id", existing_type=sa.Integer(), nullable=False)
            batch_op.drop_column("late_cancel")
            batch_op.drop_column("cancel_reason")
            batch_op.drop_column("cancelled_by")
            batch_op.drop_column("confirmed_at")
            batch_op.drop_column("external_id")

    _keep_blocks_while(recreate_appointments)

    # Plain DROP COLUMN (SQLite >= 3.35): a batch rebuild would DROP TABLE, which the
    # appointments' foreign keys to these tables refuse.
    for table, column in (
        ("visit_types", "patient_rule"),
        ("visit_types", "buffer_after_minutes"),
        ("visit_types", "buffer_before_minutes"),
        ("visit_types", "max_horizon_days"),
        ("visit_types", "min_lead_minutes"),
        ("practices", "default_buffer_after_minutes"),
        ("practices", "default_buffer_before_minutes"),
        ("practices", "late_cancel_fee_text"),
        ("practices", "late_cancel_hours"),
    ):
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
