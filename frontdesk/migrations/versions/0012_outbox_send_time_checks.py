"""outbox: not_after for outreach, an index for what went to one number lately

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import frontdesk.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbound_sms") as batch:
        batch.add_column(
            sa.Column("not_after", frontdesk.db.UTCDateTime(timezone=True), nullable=True)
        )
    op.create_index("ix_outbound_sms_to_phone_sent", "outbound_sms", ["to_phone", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_outbound_sms_to_phone_sent", table_name="outbound_sms")
    with op.batch_alter_table("outbound_sms") as batch:
        batch.drop_column("not_after")
