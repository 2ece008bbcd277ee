"""stock ledger: an index on reverts_id, so that "not undone" is a lookup and not a scan of the whole ledger

Every stock report reads the level before it (the latest report not undone): without this index each read
scanned every line of the ledger for an undo pointing at its candidates.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-11 09:00:00.000000
"""
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stock_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stock_reports_reverts_id'), ['reverts_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('stock_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stock_reports_reverts_id'))
