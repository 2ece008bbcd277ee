"""sandbox producers: the phone simulator acts on them only, and nothing of theirs leaves through a provider;
staff alerts remember which producer they are about, so erasing that producer rewrites them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09 09:00:00.000000
"""
import json
from pathlib import Path

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

DEMO_FILE = Path(__file__).resolve().parents[2] / "data" / "demo.json"


def _demo_producers() -> list[tuple[str, str]]:
    """(E.164 phone, name) of the demo producers, as `demo load` stores them."""
    try:
        data = json.loads(DEMO_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    from ovop.core.phones import to_e164
    return [(to_e164(spec["phone"]), spec["name"]) for spec in data.get("producers", [])]


def upgrade() -> None:
    with op.batch_alter_table('producers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sandbox', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('outbox_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sandbox', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('about_producer_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_items_about_producer_id'), ['about_producer_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_outbox_items_about_producer_id_producers'), 'producers',
                                    ['about_producer_id'], ['id'])
    # The demo producers loaded before this revision become sandbox producers (same number and same name).
    producers = sa.table('producers', sa.column('phone', sa.String), sa.column('name', sa.String),
                         sa.column('sandbox', sa.Boolean))
    for phone, name in _demo_producers():
        op.execute(producers.update().where(producers.c.phone == phone, producers.c.name == name)
                   .values(sandbox=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_items', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outbox_items_about_producer_id_producers'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_outbox_items_about_producer_id'))
        batch_op.drop_column('about_producer_id')
        batch_op.drop_column('sandbox')
    with op.batch_alter_table('producers', schema=None) as batch_op:
        batch_op.drop_column('sandbox')
