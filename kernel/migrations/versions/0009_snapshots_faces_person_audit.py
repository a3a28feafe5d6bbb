"""snapshots, face embeddings and the person data audit log

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 09:37:32.272921
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('person_data_access',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=True),
    sa.Column('detail', sa.String(length=500), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('person_data_access', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_data_access_at'), ['at'], unique=False)
        batch_op.create_index('ix_person_data_access_person', ['person_id', 'at'], unique=False)

    op.create_table('snapshots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('site_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('media_type', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('event_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('task', sa.String(length=16), nullable=True),
    sa.Column('outcome', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_snapshots_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_snapshots_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_snapshots_task'), ['task'], unique=False)

    op.create_table('face_embeddings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('person_id', sa.String(length=64), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=False),
    sa.Column('source', sa.String(length=200), nullable=True),
    sa.Column('photo', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('face_embeddings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_face_embeddings_person_id'), ['person_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('face_embeddings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_face_embeddings_person_id'))

    op.drop_table('face_embeddings')
    with op.batch_alter_table('snapshots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_snapshots_task'))
        batch_op.drop_index(batch_op.f('ix_snapshots_received_at'))
        batch_op.drop_index(batch_op.f('ix_snapshots_device_id'))

    op.drop_table('snapshots')
    with op.batch_alter_table('person_data_access', schema=None) as batch_op:
        batch_op.drop_index('ix_person_data_access_person')
        batch_op.drop_index(batch_op.f('ix_person_data_access_at'))

    op.drop_table('person_data_access')
