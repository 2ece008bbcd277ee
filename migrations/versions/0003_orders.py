"""orders and who was told about them

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 05:18:58.683653
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=20), nullable=True),
    sa.Column('cooperative_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('quantity', sa.Double(), nullable=False),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('accepted_by_id', sa.Integer(), nullable=True),
    sa.Column('accepted_quantity', sa.Double(), nullable=True),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['accepted_by_id'], ['producers.id'], name=op.f('fk_orders_accepted_by_id_producers')),
    sa.ForeignKeyConstraint(['cooperative_id'], ['cooperatives.id'], name=op.f('fk_orders_cooperative_id_cooperatives')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_orders_product_id_products')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_orders')),
    sa.UniqueConstraint('reference', name=op.f('uq_orders_reference'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index('ix_orders_cooperative_status', ['cooperative_id', 'status'], unique=False)

    op.create_table('order_notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_via', sa.String(length=20), nullable=True),
    sa.Column('answer', sa.String(length=20), nullable=True),
    sa.Column('quantity', sa.Double(), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], name=op.f('fk_order_notifications_order_id_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['producer_id'], ['producers.id'], name=op.f('fk_order_notifications_producer_id_producers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_order_notifications')),
    sa.UniqueConstraint('order_id', 'producer_id', name='uq_order_notifications_order_producer')
    )
    with op.batch_alter_table('order_notifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_notifications_producer_id'), ['producer_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('order_notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_notifications_producer_id'))

    op.drop_table('order_notifications')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index('ix_orders_cooperative_status')

    op.drop_table('orders')
