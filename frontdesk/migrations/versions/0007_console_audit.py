"""staff users, handoff, audit log

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
    _upgrade_auth_audit()  # staff users first: the handoff columns reference them
    _upgrade_handoff()


def downgrade() -> None:
    _downgrade_handoff()
    _downgrade_auth_audit()


# --- handoff -----------------------------------------------------------------------------

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


# --- staff users, sessions, login attempts, widget origins, audit log --------------------

_AUDIT_GUARD = "audit_events is append-only"


def _upgrade_auth_audit() -> None:
    """Staff accounts and sessions, sign-in attempts, widget origins, the audit log."""
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "front_desk", "billing", "admin", name="staffrole", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_sign_in_at", frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_staff_users_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_users_email")),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", frontdesk.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_staff_sessions_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["staff_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_sessions_staff_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index("ix_login_attempts_email_at", "login_attempts", ["email", "at"])
    op.create_index("ix_login_attempts_ip_at", "login_attempts", ["ip", "at"])
    op.create_table(
        "widget_allowed_origins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=255), nullable=False),
        sa.Column("created_at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["practice_id"],
            ["practices.id"],
            name=op.f("fk_widget_allowed_origins_practice_id_practices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_widget_allowed_origins")),
        sa.UniqueConstraint(
            "practice_id", "origin", name=op.f("uq_widget_allowed_origins_practice_id_origin")
        ),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("practice_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", frontdesk.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["staff_users.id"], name=op.f("fk_audit_events_actor_id_staff_users")
        ),
        sa.ForeignKeyConstraint(
            ["practice_id"], ["practices.id"], name=op.f("fk_audit_events_practice_id_practices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_events_hash")),
        sa.UniqueConstraint("practice_id", "seq", name=op.f("uq_audit_events_practice_id_seq")),
    )
    op.create_index("ix_audit_events_practice_at", "audit_events", ["practice_id", "at"])
    # Append-only, enforced by the database itself: no UPDATE or DELETE, whatever the code.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_AUDIT_GUARD}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{_AUDIT_GUARD}'); END"
            )


def _downgrade_auth_audit() -> None:
    # Dropping the table drops its triggers; the PostgreSQL function goes explicitly.
    op.drop_index("ix_audit_events_practice_at", table_name="audit_events")
    op.drop_table("audit_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_events_append_only()")
    op.drop_table("widget_allowed_origins")
    op.drop_index("ix_login_attempts_ip_at", table_name="login_attempts")
    op.drop_index("ix_login_attempts_email_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_table("staff_sessions")
    op.drop_table("staff_users")
