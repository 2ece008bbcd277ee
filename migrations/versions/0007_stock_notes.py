"""stock ledger notes: a staff correction says why

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09 12:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('stock_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('note', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stock_reports', schema=None) as batch_op:
        batch_op.drop_column('note')
