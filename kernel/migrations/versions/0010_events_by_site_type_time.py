"""events by site, type and time (the rules' look-backs)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:55:00.000000
"""
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_site_type_ts', ['site_id', 'type', 'ts'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index('ix_events_site_type_ts')
