"""alerts.disposition (how a resolved alert ended), sites.targets (response targets per severity), and an index
on alerts.created_at for the office's reports over any period

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 06:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts') as batch:
        batch.add_column(sa.Column('disposition', sa.String(length=32), nullable=True))
    op.create_index('ix_alerts_created', 'alerts', ['created_at'])
    with op.batch_alter_table('sites') as batch:
        batch.add_column(sa.Column('targets', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sites') as batch:
        batch.drop_column('targets')
    op.drop_index('ix_alerts_created', table_name='alerts')
    with op.batch_alter_table('alerts') as batch:
        batch.drop_column('disposition')
