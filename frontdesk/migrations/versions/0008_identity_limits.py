"""identity guessing limits: keyed client and identity hashes, decoy codes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 15:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A code row with no patient is a decoy: what a miss gets, so it looks like a hit.
    with op.batch_alter_table("verification_codes") as batch_op:
        batch_op.alter_column("patient_id", existing_type=sa.Integer(), nullable=True)
    with op.batch_alter_table("verification_attempts") as batch_op:
        batch_op.add_column(sa.Column("identity_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("client_key", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_verification_attempts_identity", ["identity_key", "at"])
        batch_op.create_index("ix_verification_attempts_client", ["client_key", "at"])
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.add_column(sa.Column("client_key", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_conversations_client", ["client_key", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch_op:
        batch_op.drop_index("ix_conversations_client")
        batch_op.drop_column("client_key")
    with op.batch_alter_table("verification_attempts") as batch_op:
        batch_op.drop_index("ix_verification_attempts_client")
        batch_op.drop_index("ix_verification_attempts_identity")
        batch_op.drop_column("client_key")
        batch_op.drop_column("identity_key")
    op.execute("DELETE FROM verification_codes WHERE patient_id IS NULL")
    with op.batch_alter_table("verification_codes") as batch_op:
        batch_op.alter_column("patient_id", existing_type=sa.Integer(), nullable=False)
