"""channels: media, gateway events, staff inbox, message costs, order revisions

- message_media: photos, voice notes and documents that came with an inbound message, fetched into MEDIA_DIR;
- gateway_events: the SMS gateway's webhook events by id, each handled once;
- staff_conversations: a producer handed to a person (the staff inbox);
- messages: kind, provider, segments, encoding, cost, author, latitude, longitude (the kind of what was sent
  before is filled in: replies, and what the outbox sent);
- orders.revision: which version of an order a WhatsApp button answers;
- conversation_states.handoff_id: the open staff conversation, read with the conversation's lock.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 15:47:01.258309
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('gateway_events',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('event', sa.String(length=30), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gateway_events'))
    )
    with op.batch_alter_table('gateway_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gateway_events_received_at'), ['received_at'], unique=False)

    op.create_table('staff_conversations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=20), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_message_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('unread', sa.Integer(), nullable=False),
    sa.Column('acknowledged', sa.Boolean(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=80), nullable=True),
    sa.ForeignKeyConstraint(['producer_id'], ['producers.id'], name=op.f('fk_staff_conversations_producer_id_producers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_conversations'))
    )
    with op.batch_alter_table('staff_conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_staff_conversations_producer_id'), ['producer_id'], unique=False)
        batch_op.create_index('ix_staff_conversations_status', ['status', 'last_message_at'], unique=False)
        batch_op.create_index('uq_staff_conversations_open', ['producer_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))

    op.create_table('message_media',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('source_url', sa.Text(), nullable=True),
    sa.Column('path', sa.String(length=300), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('stock_report_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['messages.id'], name=op.f('fk_message_media_message_id_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['stock_report_id'], ['stock_reports.id'], name=op.f('fk_message_media_stock_report_id_stock_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_media'))
    )
    with op.batch_alter_table('message_media', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_media_message_id'), ['message_id'], unique=False)
        batch_op.create_index('ix_message_media_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_media_stock_report_id'), ['stock_report_id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('provider', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('segments', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('encoding', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('cost', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('author', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('latitude', sa.Double(), nullable=True))
        batch_op.add_column(sa.Column('longitude', sa.Double(), nullable=True))

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('revision', sa.Integer(), server_default='1', nullable=False))

    with op.batch_alter_table('conversation_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handoff_id', sa.Integer(), nullable=True))

    op.execute("UPDATE messages SET kind = 'reply' WHERE direction = 'out' AND in_reply_to_id IS NOT NULL")
    op.execute("UPDATE messages SET kind = (SELECT outbox_items.kind FROM outbox_items "
               "WHERE outbox_items.id = messages.outbox_item_id) WHERE outbox_item_id IS NOT NULL")



def downgrade() -> None:
    with op.batch_alter_table('conversation_states', schema=None) as batch_op:
        batch_op.drop_column('handoff_id')

    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_column('revision')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_column('longitude')
        batch_op.drop_column('latitude')
        batch_op.drop_column('author')
        batch_op.drop_column('cost')
        batch_op.drop_column('encoding')
        batch_op.drop_column('segments')
        batch_op.drop_column('provider')
        batch_op.drop_column('kind')

    with op.batch_alter_table('message_media', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_media_stock_report_id'))
        batch_op.drop_index('ix_message_media_status')
        batch_op.drop_index(batch_op.f('ix_message_media_message_id'))

    op.drop_table('message_media')
    with op.batch_alter_table('staff_conversations', schema=None) as batch_op:
        batch_op.drop_index('uq_staff_conversations_open', sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))
        batch_op.drop_index('ix_staff_conversations_status')
        batch_op.drop_index(batch_op.f('ix_staff_conversations_producer_id'))

    op.drop_table('staff_conversations')
    with op.batch_alter_table('gateway_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gateway_events_received_at'))

    op.drop_table('gateway_events')
