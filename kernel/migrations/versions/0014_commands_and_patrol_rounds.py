"""commands to devices, patrol points, routes, rounds and check-ins

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 04:00:00.000000
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'device_commands',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('device_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=64), nullable=False),
        sa.Column('command', sa.String(length=64), nullable=False),
        sa.Column('args', sa.JSON(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('requested_by', sa.String(length=200), nullable=False),
        sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=True),
        sa.Column('alert_id', BigId, nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_device_commands_open', 'device_commands', ['state', 'expires_at'])
    op.create_index('ix_device_commands_device', 'device_commands', ['device_id', 'requested_at'])
    op.create_table(
        'patrol_points',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('grid_id', sa.String(length=64), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('location', sa.JSON(), nullable=False),
        sa.Column('code', sa.String(length=64), nullable=False),
        sa.Column('nfc_tag', sa.String(length=128), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_patrol_points_site_id', 'patrol_points', ['site_id'])
    op.create_table(
        'patrol_routes',
        sa.Column('id', sa.String(length=64), nullable=False),
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('team_id', sa.String(length=64), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('points', sa.JSON(), nullable=False),
        sa.Column('schedule', sa.JSON(), nullable=False),
        sa.Column('duration', sa.String(length=32), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_patrol_routes_site_id', 'patrol_routes', ['site_id'])
    op.create_table(
        'patrol_rounds',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('route_id', sa.String(length=64), nullable=False),
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('team_id', sa.String(length=64), nullable=True),
        sa.Column('starts_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('points', sa.JSON(), nullable=False),
        sa.Column('missed', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_patrol_rounds_route_start', 'patrol_rounds', ['route_id', 'starts_at'], unique=True)
    op.create_index('ix_patrol_rounds_open', 'patrol_rounds', ['state', 'due_at'])
    op.create_table(
        'patrol_checkins',
        sa.Column('id', BigId, autoincrement=True, nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('round_id', BigId, nullable=True),
        sa.Column('point_id', sa.String(length=64), nullable=False),
        sa.Column('site_id', sa.String(length=64), nullable=False),
        sa.Column('member', sa.String(length=200), nullable=False),
        sa.Column('team_id', sa.String(length=64), nullable=True),
        sa.Column('at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('client_id'),
    )
    op.create_index('ix_patrol_checkins_round', 'patrol_checkins', ['round_id'])
    op.create_index('ix_patrol_checkins_member', 'patrol_checkins', ['member', 'at'])


def downgrade() -> None:
    for index, table in (('ix_patrol_checkins_member', 'patrol_checkins'), ('ix_patrol_checkins_round', 'patrol_checkins'),
                         ('ix_patrol_rounds_open', 'patrol_rounds'), ('ix_patrol_rounds_route_start', 'patrol_rounds'),
                         ('ix_patrol_routes_site_id', 'patrol_routes'), ('ix_patrol_points_site_id', 'patrol_points'),
                         ('ix_device_commands_device', 'device_commands'), ('ix_device_commands_open', 'device_commands')):
        op.drop_index(index, table_name=table)
    for table in ('patrol_checkins', 'patrol_rounds', 'patrol_routes', 'patrol_points', 'device_commands'):
        op.drop_table(table)
