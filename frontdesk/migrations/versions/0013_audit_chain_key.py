"""audit chain keyed with HMAC-SHA256: re-chain existing events under the key

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 16:30:00

No schema change. Events written before this revision carry plain SHA-256 hashes, which
anyone with SQL access could recompute after editing a row. Each existing chain is verified,
then re-chained under the audit key (`FRONTDESK_AUDIT_KEY`, else derived from
`FRONTDESK_SECRET_KEY`), so from here on only the key holder can produce hashes that verify.
A chain that no longer verifies is not re-chained: the migration stops and says which.
Head hashes exported before the upgrade no longer match; take a new export afterwards.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text
from sqlalchemy.orm import Session

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rechain(*, to_key: bool) -> None:
    bind = op.get_bind()
    if not bind.execute(text("SELECT count(*) FROM audit_events")).scalar():
        return  # a new or empty database: nothing to re-chain, no key needed yet
    from frontdesk.audit.service import audit_key_for, rekey_chains
    from frontdesk.settings import get_settings

    key = audit_key_for(get_settings())
    postgres = bind.dialect.name == "postgresql"
    guards: list[str] = []
    if postgres:
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER USER")
    else:  # SQLite has no DISABLE TRIGGER: drop the guards and put the same ones back
        triggers = bind.execute(
            text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
            {"t": "audit_events"},
        ).all()
        guards = [sql for _name, sql in triggers]
        for name, _sql in triggers:
            op.execute(f'DROP TRIGGER "{name}"')
    session = Session(bind=bind)
    try:
        rekey_chains(session, old_key=None if to_key else key, new_key=key if to_key else None)
    finally:
        session.close()
    if postgres:
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER USER")
    else:
        for sql in guards:
            op.execute(sql)


def upgrade() -> None:
    _rechain(to_key=True)


def downgrade() -> None:
    _rechain(to_key=False)
