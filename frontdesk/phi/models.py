"""PHI tokens: what a token sent to Rasa stands for, kept only in the service database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from frontdesk.db import Base, insert_stamp


class PhiToken(Base):
    """One detected PHI value in a conversation and the opaque token Rasa saw instead."""

    __tablename__ = "phi_tokens"
    __table_args__ = (
        UniqueConstraint("conversation_id", "token"),
        UniqueConstraint("conversation_id", "kind", "value"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(40))  # e.g. "PHI_DOB_1"
    kind: Mapped[str] = mapped_column(String(40))  # presidio entity type
    value: Mapped[str] = mapped_column(Text)  # PHI: never log
    created_at: Mapped[datetime] = insert_stamp()
