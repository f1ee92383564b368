"""Staff accounts, their server-side sessions, sign-in attempts and widget embedding origins."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, UTCDateTime, enum_column, insert_stamp


class StaffRole(enum.StrEnum):
    """What a staff member may do in the console."""

    FRONT_DESK = "front_desk"
    BILLING = "billing"
    MANAGER = "manager"  # sees the practice's insights; no admin rights
    ADMIN = "admin"


# The contract's name for the staff role (frontdesk.conversations.models.Role is a message role).
Role = StaffRole


class StaffAccount(Base):
    """A person who signs in to the console, always within one practice.

    Emails are unique across the deployment, so an email and a password identify the account
    (and with it the practice) without asking which practice first. Accounts are disabled,
    never deleted: the audit log refers to them.
    """

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[StaffRole] = mapped_column(enum_column(StaffRole))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = insert_stamp()
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffSession(Base):
    """A signed-in browser. Only a hash of the cookie's token is stored, so a copy of the
    database does not let anyone sign in, and deleting or revoking the row signs out for real."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = insert_stamp()
    last_seen_at: Mapped[datetime] = insert_stamp()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LoginAttempt(Base):
    """One sign-in attempt, for lock-out per account and throttling per client address.

    The email is stored normalised even when no account has it, so guessing at unknown
    addresses is throttled the same way (and the answer never tells which emails exist).
    """

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_ip_at", "ip", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    ip: Mapped[str] = mapped_column(String(64))
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = insert_stamp()


class WidgetOrigin(Base):
    """A website origin allowed to embed a practice's chat widget ("https://example.org").

    A port of "*" allows any port of that scheme and host (for local test pages only).
    """

    __tablename__ = "widget_allowed_origins"
    __table_args__ = (UniqueConstraint("practice_id", "origin"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    practice_id: Mapped[int] = mapped_column(ForeignKey("practices.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = insert_stamp()
