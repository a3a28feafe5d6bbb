"""notification outbox, maintenance chains, notification targets on levels, site notification policy, secrets

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 03:00:00.000000
"""
import warnings

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'notifications',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('alert_id', BigId, nullable=True),
        sa.Column('site_id', sa.String(length=64), nullable=True),
        sa.Column('step', sa.String(length=32), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False),
        sa.Column('recipient', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=32), nullable=False),
        sa.Column('target', sa.Text(), nullable=False),
        sa.Column('shown', sa.String(length=300), nullable=False),
        sa.Column('channel', sa.String(length=32), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('condition', sa.String(length=32), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('claimed_by', sa.String(length=64), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_notifications_alert_id', 'notifications', ['alert_id'])
    op.create_index('ix_notifications_due', 'notifications', ['state', 'due_at'])
    op.create_table(
        'secrets',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    postgres = op.get_bind().dialect.name == 'postgresql'
    with warnings.catch_warnings(), op.batch_alter_table('escalation_levels', recreate='always') as batch_op:
        # SQLite's rebuild names the old key's columns before taking the new one: SQLAlchemy warns, harmlessly
        warnings.filterwarnings('ignore', message='.*specifies columns .* as primary_key=True')
        batch_op.add_column(sa.Column('chain', sa.String(length=16), nullable=False, server_default='patrol'))
        batch_op.add_column(sa.Column('notify', sa.JSON(), nullable=True))
        if postgres:  # SQLite's batch mode rebuilds the table with the new key
            batch_op.drop_constraint('escalation_levels_pkey', type_='primary')
        batch_op.create_primary_key('escalation_levels_pkey', ['site_id', 'chain', 'position'])
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notifications', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('notifications')
    op.execute("DELETE FROM escalation_levels WHERE chain <> 'patrol'")
    postgres = op.get_bind().dialect.name == 'postgresql'
    with op.batch_alter_table('escalation_levels', schema=None, recreate='always') as batch_op:
        if postgres:
            batch_op.drop_constraint('escalation_levels_pkey', type_='primary')
        batch_op.create_primary_key('escalation_levels_pkey', ['site_id', 'position'])
        batch_op.drop_column('notify')
        batch_op.drop_column('chain')
    op.drop_table('secrets')
    op.drop_index('ix_notifications_due', table_name='notifications')
    op.drop_index('ix_notifications_alert_id', table_name='notifications')
    op.drop_table('notifications')
