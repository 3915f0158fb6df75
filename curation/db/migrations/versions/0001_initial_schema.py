"""initial schema

Revision ID: 0001
Revises: 
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('class_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_class_sets')),
    sa.UniqueConstraint('name', name=op.f('uq_class_sets_name'))
    )
    op.create_table('images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('format', sa.String(length=20), nullable=True),
    sa.Column('mode', sa.String(length=20), nullable=True),
    sa.Column('n_bytes', sa.BigInteger(), nullable=False),
    sa.Column('n_frames', sa.Integer(), nullable=True),
    sa.Column('pixel_sha256', sa.String(length=64), nullable=True),
    sa.Column('phash', sa.BigInteger(), nullable=True),
    sa.Column('dhash', sa.BigInteger(), nullable=True),
    sa.Column('phash_mirror', sa.BigInteger(), nullable=True),
    sa.Column('dhash_mirror', sa.BigInteger(), nullable=True),
    sa.Column('hashed_at', sa.DateTime(), nullable=True),
    sa.Column('pixel_mean', sa.Float(), nullable=True),
    sa.Column('pixel_std', sa.Float(), nullable=True),
    sa.Column('pixel_rgb', sa.String(length=40), nullable=True),
    sa.Column('decode_error', sa.String(length=300), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_images')),
    sa.UniqueConstraint('sha256', name=op.f('uq_images_sha256'))
    )
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_images_pixel_sha256'), ['pixel_sha256'], unique=False)

    op.create_table('invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=128), nullable=False),
    sa.Column('uses_left', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invites')),
    sa.UniqueConstraint('code', name=op.f('uq_invites_code'))
    )
    op.create_table('reference_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('root', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_sets')),
    sa.UniqueConstraint('name', name=op.f('uq_reference_sets_name'))
    )
    op.create_table('scrape_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scrape_jobs')),
    sa.UniqueConstraint('name', name=op.f('uq_scrape_jobs_name'))
    )
    op.create_table('splits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('preset', sa.String(length=100), nullable=True),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('spec_sha256', sa.String(length=64), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_splits')),
    sa.UniqueConstraint('name', name=op.f('uq_splits_name'))
    )
    op.create_table('workers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('token', sa.String(length=128), nullable=True),
    sa.Column('invite', sa.String(length=128), nullable=True),
    sa.Column('qualified', sa.Boolean(), nullable=True),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('flag_reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workers')),
    sa.UniqueConstraint('external_id', name=op.f('uq_workers_external_id')),
    sa.UniqueConstraint('token', name=op.f('uq_workers_token'))
    )
    op.create_table('classes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('class_set_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('logit_index', sa.Integer(), nullable=True),
    sa.Column('definition', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['class_set_id'], ['class_sets.id'], name=op.f('fk_classes_class_set_id_class_sets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classes')),
    sa.UniqueConstraint('class_set_id', 'key', name=op.f('uq_classes_class_set_id_key')),
    sa.UniqueConstraint('class_set_id', 'position', name=op.f('uq_classes_class_set_id_position'))
    )
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_classes_class_set_id'), ['class_set_id'], unique=False)

    op.create_table('duplicate_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('keeper_image_id', sa.Integer(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['keeper_image_id'], ['images.id'], name=op.f('fk_duplicate_groups_keeper_image_id_images')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_groups'))
    )
    op.create_table('exports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('split_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('format', sa.String(length=40), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('manifest_sha256', sa.String(length=64), nullable=False),
    sa.Column('n_images', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['split_id'], ['splits.id'], name=op.f('fk_exports_split_id_splits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exports')),
    sa.UniqueConstraint('split_id', 'version', name=op.f('uq_exports_split_id_version'))
    )
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exports_split_id'), ['split_id'], unique=False)

    op.create_table('filter_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('filter', sa.String(length=60), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('verdict', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_filter_decisions_image_id_images'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_filter_decisions'))
    )
    with op.batch_alter_table('filter_decisions', schema=None) as batch_op:
        batch_op.create_index('ix_filter_decisions_current', ['image_id', 'filter', 'current'], unique=False)
        batch_op.create_index(batch_op.f('ix_filter_decisions_image_id'), ['image_id'], unique=False)

    op.create_table('reference_images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference_set_id', sa.Integer(), nullable=False),
    sa.Column('identity', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('phash', sa.BigInteger(), nullable=True),
    sa.Column('dhash', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['reference_set_id'], ['reference_sets.id'], name=op.f('fk_reference_images_reference_set_id_reference_sets'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_images')),
    sa.UniqueConstraint('reference_set_id', 'identity', name=op.f('uq_reference_images_reference_set_id_identity'))
    )
    with op.batch_alter_table('reference_images', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reference_images_reference_set_id'), ['reference_set_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_reference_images_sha256'), ['sha256'], unique=False)

    op.create_table('split_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('split_id', sa.Integer(), nullable=False),
    sa.Column('subset', sa.String(length=100), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_split_members_image_id_images')),
    sa.ForeignKeyConstraint(['split_id'], ['splits.id'], name=op.f('fk_split_members_split_id_splits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_split_members')),
    sa.UniqueConstraint('split_id', 'subset', 'image_id', name=op.f('uq_split_members_split_id_subset_image_id'))
    )
    with op.batch_alter_table('split_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_split_members_image_id'), ['image_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_split_members_split_id'), ['split_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_users_worker_id_workers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('aggregated_labels',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('method', sa.String(length=40), nullable=False),
    sa.Column('frequency', sa.Float(), nullable=True),
    sa.Column('n_votes', sa.Integer(), nullable=False),
    sa.Column('posterior', sa.Float(), nullable=True),
    sa.Column('accepted', sa.Boolean(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_aggregated_labels_class_id_classes')),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_aggregated_labels_image_id_images')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_aggregated_labels')),
    sa.UniqueConstraint('image_id', 'class_id', 'method', name=op.f('uq_aggregated_labels_image_id_class_id_method'))
    )
    with op.batch_alter_table('aggregated_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_aggregated_labels_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_aggregated_labels_image_id'), ['image_id'], unique=False)

    op.create_table('duplicate_members',
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('distance', sa.Integer(), nullable=True),
    sa.Column('mirrored', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['duplicate_groups.id'], name=op.f('fk_duplicate_members_group_id_duplicate_groups'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_duplicate_members_image_id_images'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'image_id', name=op.f('pk_duplicate_members'))
    )
    op.create_table('gold_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('answer', sa.Boolean(), nullable=False),
    sa.Column('origin', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_gold_items_class_id_classes')),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_gold_items_image_id_images')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_gold_items')),
    sa.UniqueConstraint('image_id', 'class_id', name=op.f('uq_gold_items_image_id_class_id'))
    )
    with op.batch_alter_table('gold_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_gold_items_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_gold_items_image_id'), ['image_id'], unique=False)

    op.create_table('hits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=64), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('batch', sa.String(length=100), nullable=True),
    sa.Column('assignments_per_item', sa.Integer(), nullable=False),
    sa.Column('reward_note', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_hits_class_id_classes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hits')),
    sa.UniqueConstraint('public_id', name=op.f('uq_hits_public_id'))
    )
    with op.batch_alter_table('hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hits_class_id'), ['class_id'], unique=False)

    op.create_table('queries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('rendition', sa.String(length=100), nullable=True),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_queries_class_id_classes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queries')),
    sa.UniqueConstraint('source', 'text', name=op.f('uq_queries_source_text'))
    )
    with op.batch_alter_table('queries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_queries_class_id'), ['class_id'], unique=False)

    op.create_table('reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('decision', sa.String(length=20), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('proposed_class_id', sa.Integer(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_reviews_class_id_classes')),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_reviews_image_id_images')),
    sa.ForeignKeyConstraint(['proposed_class_id'], ['classes.id'], name=op.f('fk_reviews_proposed_class_id_classes')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_reviews_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews'))
    )
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index('ix_reviews_image_current', ['image_id', 'current'], unique=False)
        batch_op.create_index(batch_op.f('ix_reviews_user_id'), ['user_id'], unique=False)

    op.create_table('source_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=40), nullable=False),
    sa.Column('source_id', sa.String(length=500), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('owner', sa.String(length=200), nullable=True),
    sa.Column('owner_name', sa.String(length=500), nullable=True),
    sa.Column('license', sa.String(length=100), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('tags', sa.Text(), nullable=True),
    sa.Column('taken_at', sa.DateTime(), nullable=True),
    sa.Column('uploaded_at', sa.DateTime(), nullable=True),
    sa.Column('class_id', sa.Integer(), nullable=True),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_source_records_class_id_classes')),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_source_records_image_id_images')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_source_records')),
    sa.UniqueConstraint('source', 'source_id', name=op.f('uq_source_records_source_source_id'))
    )
    with op.batch_alter_table('source_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_source_records_class_id'), ['class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_source_records_image_id'), ['image_id'], unique=False)
        batch_op.create_index('ix_source_records_status', ['status'], unique=False)

    op.create_table('assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=64), nullable=False),
    sa.Column('hit_id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('external_assignment_id', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('lease_expires_at', sa.DateTime(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('completion_code', sa.String(length=64), nullable=True),
    sa.Column('gold_correct', sa.Integer(), nullable=True),
    sa.Column('gold_total', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), server_default=sa.text('(CURRENT_TIMESTAMP)'), nullable=False),
    sa.ForeignKeyConstraint(['hit_id'], ['hits.id'], name=op.f('fk_assignments_hit_id_hits'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_assignments_worker_id_workers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments')),
    sa.UniqueConstraint('hit_id', 'worker_id', name=op.f('uq_assignments_hit_id_worker_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_assignments_public_id'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_status', ['hit_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_worker_id'), ['worker_id'], unique=False)

    op.create_table('hit_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hit_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('gold_answer', sa.Boolean(), nullable=True),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['hit_id'], ['hits.id'], name=op.f('fk_hit_items_hit_id_hits'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_hit_items_image_id_images')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hit_items')),
    sa.UniqueConstraint('hit_id', 'image_id', name=op.f('uq_hit_items_hit_id_image_id')),
    sa.UniqueConstraint('hit_id', 'position', name=op.f('uq_hit_items_hit_id_position')),
    sa.UniqueConstraint('token', name=op.f('uq_hit_items_token'))
    )
    with op.batch_alter_table('hit_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hit_items_hit_id'), ['hit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_hit_items_image_id'), ['image_id'], unique=False)

    op.create_table('query_sources',
    sa.Column('query_id', sa.Integer(), nullable=False),
    sa.Column('source_record_id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('rank', sa.Integer(), nullable=True),
    sa.Column('found_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['scrape_jobs.id'], name=op.f('fk_query_sources_job_id_scrape_jobs')),
    sa.ForeignKeyConstraint(['query_id'], ['queries.id'], name=op.f('fk_query_sources_query_id_queries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['source_record_id'], ['source_records.id'], name=op.f('fk_query_sources_source_record_id_source_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('query_id', 'source_record_id', name=op.f('pk_query_sources'))
    )
    op.create_table('scrape_windows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('query_id', sa.Integer(), nullable=False),
    sa.Column('min_upload', sa.BigInteger(), nullable=False),
    sa.Column('max_upload', sa.BigInteger(), nullable=False),
    sa.Column('next_page', sa.Integer(), nullable=False),
    sa.Column('pages', sa.Integer(), nullable=True),
    sa.Column('total_reported', sa.Integer(), nullable=True),
    sa.Column('found', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['job_id'], ['scrape_jobs.id'], name=op.f('fk_scrape_windows_job_id_scrape_jobs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['query_id'], ['queries.id'], name=op.f('fk_scrape_windows_query_id_queries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scrape_windows')),
    sa.UniqueConstraint('job_id', 'query_id', 'min_upload', 'max_upload', name=op.f('uq_scrape_windows_job_id_query_id_min_upload_max_upload'))
    )
    with op.batch_alter_table('scrape_windows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scrape_windows_job_id'), ['job_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_scrape_windows_query_id'), ['query_id'], unique=False)

    op.create_table('votes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('assignment_id', sa.Integer(), nullable=False),
    sa.Column('hit_item_id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('worker_id', sa.Integer(), nullable=False),
    sa.Column('selected', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['assignment_id'], ['assignments.id'], name=op.f('fk_votes_assignment_id_assignments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['class_id'], ['classes.id'], name=op.f('fk_votes_class_id_classes')),
    sa.ForeignKeyConstraint(['hit_item_id'], ['hit_items.id'], name=op.f('fk_votes_hit_item_id_hit_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['image_id'], ['images.id'], name=op.f('fk_votes_image_id_images')),
    sa.ForeignKeyConstraint(['worker_id'], ['workers.id'], name=op.f('fk_votes_worker_id_workers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_votes')),
    sa.UniqueConstraint('assignment_id', 'hit_item_id', name=op.f('uq_votes_assignment_id_hit_item_id'))
    )
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.create_index('ix_votes_image_class', ['image_id', 'class_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_votes_worker_id'), ['worker_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('votes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_votes_worker_id'))
        batch_op.drop_index('ix_votes_image_class')

    op.drop_table('votes')
    with op.batch_alter_table('scrape_windows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scrape_windows_query_id'))
        batch_op.drop_index(batch_op.f('ix_scrape_windows_job_id'))

    op.drop_table('scrape_windows')
    op.drop_table('query_sources')
    with op.batch_alter_table('hit_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hit_items_image_id'))
        batch_op.drop_index(batch_op.f('ix_hit_items_hit_id'))

    op.drop_table('hit_items')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_worker_id'))
        batch_op.drop_index('ix_assignments_status')

    op.drop_table('assignments')
    with op.batch_alter_table('source_records', schema=None) as batch_op:
        batch_op.drop_index('ix_source_records_status')
        batch_op.drop_index(batch_op.f('ix_source_records_image_id'))
        batch_op.drop_index(batch_op.f('ix_source_records_class_id'))

    op.drop_table('source_records')
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reviews_user_id'))
        batch_op.drop_index('ix_reviews_image_current')

    op.drop_table('reviews')
    with op.batch_alter_table('queries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_queries_class_id'))

    op.drop_table('queries')
    with op.batch_alter_table('hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hits_class_id'))

    op.drop_table('hits')
    with op.batch_alter_table('gold_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_gold_items_image_id'))
        batch_op.drop_index(batch_op.f('ix_gold_items_class_id'))

    op.drop_table('gold_items')
    op.drop_table('duplicate_members')
    with op.batch_alter_table('aggregated_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_aggregated_labels_image_id'))
        batch_op.drop_index(batch_op.f('ix_aggregated_labels_class_id'))

    op.drop_table('aggregated_labels')
    op.drop_table('users')
    with op.batch_alter_table('split_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_split_members_split_id'))
        batch_op.drop_index(batch_op.f('ix_split_members_image_id'))

    op.drop_table('split_members')
    with op.batch_alter_table('reference_images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reference_images_sha256'))
        batch_op.drop_index(batch_op.f('ix_reference_images_reference_set_id'))

    op.drop_table('reference_images')
    with op.batch_alter_table('filter_decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_filter_decisions_image_id'))
        batch_op.drop_index('ix_filter_decisions_current')

    op.drop_table('filter_decisions')
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exports_split_id'))

    op.drop_table('exports')
    op.drop_table('duplicate_groups')
    with op.batch_alter_table('classes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_classes_class_set_id'))

    op.drop_table('classes')
    op.drop_table('workers')
    op.drop_table('splits')
    op.drop_table('scrape_jobs')
    op.drop_table('reference_sets')
    op.drop_table('invites')
    with op.batch_alter_table('images', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_images_pixel_sha256'))

    op.drop_table('images')
    op.drop_table('class_sets')
