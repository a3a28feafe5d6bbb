"""buildings with their units and households; persons linked to a building and unit

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 05:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'buildings',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('courtyard', sa.String(length=200), nullable=True),
        sa.Column('grid_id', sa.String(length=64), nullable=True),
        sa.Column('units', sa.JSON(), nullable=False),
        sa.Column('households', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_buildings_site_id', 'buildings', ['site_id'])
    with op.batch_alter_table('persons') as batch:
        batch.add_column(sa.Column('building_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('unit', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('persons') as batch:
        batch.drop_column('unit')
        batch.drop_column('building_id')
    op.drop_index('ix_buildings_site_id', table_name='buildings')
    op.drop_table('buildings')
