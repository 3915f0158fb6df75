"""crowdlab: out-of-sample model runs and predictions, worker scores, consensus quality on aggregated labels

Revision ID: 0003_crowdlab
Revises: 0002_ui_accounts
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_crowdlab'
down_revision = '0002_ui_accounts'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('model_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('class_set_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('arch', sa.String(length=100), nullable=False),
    sa.Column('weights', sa.Text(), nullable=False),
    sa.Column('weights_sha256', sa.String(length=64), nullable=False),
    sa.Column('folds', sa.Integer(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('n_images', sa.Integer(), nullable=False),
    sa.Column('n_labelled', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['class_set_id'], ['class_sets.id'], name=op.f('fk_model_runs_class_set_id_class_sets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_runs'))
    )
    with op.batch_alter_table('model_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_runs_class_set_id'), ['class_set_id'], unique=False)

    op.create_table('model_predictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_model_predictions_class_id_classes')),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_model_predictions_image_id_images')),
    sa.ForeignKeyConstraint(['run_id'], ['model_runs.id'], name=op.f('fk_model_predictions_run_id_model_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_predictions')),
    sa.UniqueConstraint('run_id', 'image_id', 'class_id', name=op.f('uq_model_predictions_run_id_image_id_class_id'))
    )
    with op.batch_alter_table('model_predictions', schema=None) as batch_op:
        batch_op.create_index('ix_model_predictions_class_run', ['class_id', 'run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_predictions_run_id'), ['run_id'], unique=False)

    op.create_table('worker_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=40), nullable=False),
    sa.Column('quality', sa.Float(), nullable=False),
    sa.Column('agreement', sa.Float(), nullable=True),
    sa.Column('n_labels', sa.Integer(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_worker_scores_worker_id_workers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_worker_scores')),
    sa.UniqueConstraint('worker_id', 'method', name=op.f('uq_worker_scores_worker_id_method'))
    )
    with op.batch_alter_table('worker_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worker_scores_worker_id'), ['worker_id'], unique=False)

    with op.batch_alter_table('aggregated_labels', schema=None) as batch_op:
        batch_op.add_column(sa.Column('quality', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('active_score', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('aggregated_labels', schema=None) as batch_op:
        batch_op.drop_column('active_score')
        batch_op.drop_column('quality')
    with op.batch_alter_table('worker_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_scores_worker_id'))
    op.drop_table('worker_scores')
    with op.batch_alter_table('model_predictions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_predictions_run_id'))
        batch_op.drop_index('ix_model_predictions_class_run')
    op.drop_table('model_predictions')
    with op.batch_alter_table('model_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_runs_class_set_id'))
    op.drop_table('model_runs')
