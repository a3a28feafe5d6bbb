"""tolerated deviations per device, site type aliases

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 01:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'device_deviations',
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=64), nullable=False),
        sa.Column('field', sa.String(length=200), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('first_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_sent', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('device_id', 'reason'),
    )
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('type_aliases', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('type_aliases')
    op.drop_table('device_deviations')
