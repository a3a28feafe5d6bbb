"""snapshots: an unguessable public id and the grid at capture; one-time console login links

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 18:00:00.000000
"""
import secrets

import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

_SNAPSHOTS = sa.table('snapshots', sa.column('id', sa.BigInteger()), sa.column('device_id', sa.String()),
                      sa.column('public_id', sa.String()), sa.column('grid_id', sa.String()))
_DEVICES = sa.table('devices', sa.column('id', sa.String()), sa.column('grid_id', sa.String()))


def upgrade() -> None:
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('public_id', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('grid_id', sa.String(length=64), nullable=True))

    # Pictures stored before this revision: a fresh public id each, and the camera's grid as it is now (the
    # best that is known; a camera already deleted leaves the grid empty, which no patrol token covers).
    conn = op.get_bind()
    grids = dict(conn.execute(sa.select(_DEVICES.c.id, _DEVICES.c.grid_id)).all())
    rows = [{'b_id': snapshot_id, 'b_public': secrets.token_urlsafe(16), 'b_grid': grids.get(device_id)}
            for snapshot_id, device_id in conn.execute(sa.select(_SNAPSHOTS.c.id, _SNAPSHOTS.c.device_id)).all()]
    if rows:
        conn.execute(sa.update(_SNAPSHOTS).where(_SNAPSHOTS.c.id == sa.bindparam('b_id'))
                     .values(public_id=sa.bindparam('b_public'), grid_id=sa.bindparam('b_grid')), rows)

    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.alter_column('public_id', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(batch_op.f('ix_snapshots_public_id'), ['public_id'], unique=True)

    op.create_table('login_links',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('token_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sealed', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['token_id'], ['api_tokens.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_hash')
    )
    with op.batch_alter_table('login_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_login_links_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_login_links_token_id'), ['token_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_login_links_token_id'))
        batch_op.drop_index(batch_op.f('ix_login_links_expires_at'))

    op.drop_table('login_links')
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_snapshots_public_id'))
        batch_op.drop_column('grid_id')
        batch_op.drop_column('public_id')
