"""SMS messages, opt-outs, outbox, reminders

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import frontdesk.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(length=191), nullable=False),
        sa.Column("next_run_time", sa.Float(precision=25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apscheduler_jobs")),
    )
    op.create_index(
        op.f("ix_apscheduler_jobs_next_run_time"),
        "apscheduler_jobs",
        ["next_run_time"],
        unique=False,
    )
    op.create_table(
        "practice_sms_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("messaging_service_sid", sa.String(length=64), nullable=True),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_practice_sms_numbers_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_practice_sms_numbers")),
        sa.UniqueConstraint("phone", name=op.f("uq_practice_sms_numbers_phone")),
    )
    op.create_table(
        "reminder_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("offsets_minutes", sa.JSON(), nullable=True),
        sa.Column("quiet_start", sa.String(length=5), nullable=True),
        sa.Column("quiet_end", sa.String(length=5), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=False),
        sa.Column("weekly_cap", sa.Integer(), nullable=False),
        sa.Column("no_show_followup", sa.Boolean(), nullable=False),
        sa.Column("post_visit_message", sa.Text(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_reminder_settings_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_settings")),
        sa.UniqueConstraint("practice_id", name=op.f("uq_reminder_settings_practice_id")),
    )
    op.create_table(
        "sms_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("keyword", sa.String(length=32), nullable=True),
        sa.Column("changed_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_sms_consents_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_consents")),
        sa.UniqueConstraint("practice_id", "phone", name=op.f("uq_sms_consents_practice_id_phone")),
    )
    op.create_table(
        "sms_threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("awaiting_identity", sa.Boolean(), nullable=False),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_sms_threads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_sms_threads_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_threads")),
        sa.UniqueConstraint("conversation_id", name=op.f("uq_sms_threads_conversation_id")),
        sa.UniqueConstraint("practice_id", "phone", name=op.f("uq_sms_threads_practice_id_phone")),
    )
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=True),
        sa.Column("from_phone", sa.String(length=32), nullable=False),
        sa.Column("to_phone", sa.String(length=32), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("num_media", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("bot_text", sa.Text(), nullable=True),
        sa.Column(
            "outcome",
            sa.Enum(
                "pending",
                "bot",
                "staff",
                "opt_out",
                "opt_in",
                "help",
                "opted_out",
                "identity",
                "unknown_number",
                "empty",
                name="inboundoutcome",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("received_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("processed_at", frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_inbound_sms_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_inbound_sms_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_sms")),
        sa.UniqueConstraint("message_sid", name=op.f("uq_inbound_sms_message_sid")),
    )
    op.create_index(
        "ix_inbound_sms_pending", "inbound_sms", ["outcome", "received_at"], unique=False
    )
    op.create_table(
        "outbound_sms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("to_phone", sa.String(length=32), nullable=False),
        sa.Column("from_phone", sa.String(length=32), nullable=True),
        sa.Column("messaging_service_sid", sa.String(length=64), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=120), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "queued",
                "sent",
                "delivered",
                "undelivered",
                "failed",
                "dead",
                name="outboundstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("twilio_sid", sa.String(length=64), nullable=True),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("encoding", sa.String(length=8), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_outbound_sms_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_outbound_sms_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_outbound_sms_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbound_sms")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbound_sms_dedupe_key")),
        sa.UniqueConstraint("twilio_sid", name=op.f("uq_outbound_sms_twilio_sid")),
    )
    op.create_index(
        "ix_outbound_sms_due", "outbound_sms", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "scheduled_reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "reminder",
                "no_show",
                "post_visit",
                name="reminderkind",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("appointment_start", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "planned",
                "sent",
                "skipped",
                "cancelled",
                name="reminderstatus",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("skip_reason", sa.String(length=32), nullable=True),
        sa.Column("outbound_sms_id", sa.Integer(), nullable=True),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_scheduled_reminders_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["outbound_sms_id"],
            ["outbound_sms.id"],
            name=op.f("fk_scheduled_reminders_outbound_sms_id_outbound_sms"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_scheduled_reminders_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_scheduled_reminders_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_reminders")),
        sa.UniqueConstraint(
            "appointment_id",
            "kind",
            "offset_minutes",
            "appointment_start",
            name="uq_scheduled_reminders_once",
        ),
    )
    op.create_index(
        "ix_scheduled_reminders_due", "scheduled_reminders", ["status", "due_at"], unique=False
    )
    op.create_index(
        "ix_scheduled_reminders_patient_sent",
        "scheduled_reminders",
        ["patient_id", "sent_at"],
        unique=False,
    )
    op.create_table(
        "sms_status_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbound_id", sa.Integer(), nullable=True),
        sa.Column("message_sid", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_code", sa.String(length=16), nullable=True),
        sa.Column("received_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbound_id"],
            ["outbound_sms.id"],
            name=op.f("fk_sms_status_events_outbound_id_outbound_sms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_status_events")),
        sa.UniqueConstraint(
            "message_sid", "status", name=op.f("uq_sms_status_events_message_sid_status")
        ),
    )
    op.create_index(
        op.f("ix_sms_status_events_outbound_id"), "sms_status_events", ["outbound_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sms_status_events_outbound_id"), table_name="sms_status_events")
    op.drop_table("sms_status_events")
    op.drop_index("ix_scheduled_reminders_patient_sent", table_name="scheduled_reminders")
    op.drop_index("ix_scheduled_reminders_due", table_name="scheduled_reminders")
    op.drop_table("scheduled_reminders")
    op.drop_index("ix_outbound_sms_due", table_name="outbound_sms")
    op.drop_table("outbound_sms")
    op.drop_index("ix_inbound_sms_pending", table_name="inbound_sms")
    op.drop_table("inbound_sms")
    op.drop_table("sms_threads")
    op.drop_table("sms_consents")
    op.drop_table("reminder_settings")
    op.drop_table("practice_sms_numbers")
    op.drop_index(op.f("ix_apscheduler_jobs_next_run_time"), table_name="apscheduler_jobs")
    op.drop_table("apscheduler_jobs")
