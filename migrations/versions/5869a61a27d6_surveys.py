"""surveys: questionnaires, answer sets, wiki-survey pairs and votes, invitations, exports

Revision ID: 5869a61a27d6
Revises: b4e8c2a6d913
Create Date: 2026-11-29 13:31:41.633834

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5869a61a27d6'
down_revision = "b4e8c2a6d913"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('survey',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('privacy', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('opens_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closes_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('live_results', sa.Boolean(), nullable=False),
    sa.Column('invitation_only', sa.Boolean(), nullable=False),
    sa.Column('suppression_threshold', sa.Integer(), nullable=False),
    sa.Column('hmac_key', sa.LargeBinary(), nullable=True),
    sa.Column('key_destroyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('duplicated_from_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('results_published_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("privacy IN ('identified', 'pseudonymous', 'anonymous')", name=op.f('ck_survey_privacy')),
    sa.CheckConstraint("status IN ('draft', 'scheduled', 'open', 'closed', 'published')", name=op.f('ck_survey_status')),
    sa.CheckConstraint('opens_at IS NULL OR closes_at > opens_at', name=op.f('ck_survey_window')),
    sa.CheckConstraint('suppression_threshold >= 1', name=op.f('ck_survey_threshold_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_survey_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['duplicated_from_id'], ['survey.id'], name=op.f('fk_survey_duplicated_from_id_survey'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['institution_id'], ['institution.id'], name=op.f('fk_survey_institution_id_institution'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey'))
    )
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_institution_id'), ['institution_id'], unique=False)
        batch_op.create_index('ix_survey_status_closes_at', ['status', 'closes_at'], unique=False)

    op.create_table('survey_export',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=True),
    sa.Column('content', sa.LargeBinary(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'running', 'ready', 'failed')", name=op.f('ck_survey_export_status')),
    sa.ForeignKeyConstraint(['requested_by_id'], ['user.id'], name=op.f('fk_survey_export_requested_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_export_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_export'))
    )
    with op.batch_alter_table('survey_export', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_export_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('nonce', sa.String(length=32), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('respondent_key', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_invitation_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_invitation')),
    sa.UniqueConstraint('nonce', name=op.f('uq_survey_invitation_nonce'))
    )
    with op.batch_alter_table('survey_invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_invitation_respondent_key'), ['respondent_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_invitation_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_response',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('respondent_key', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('sector', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=True),
    sa.Column('intended_use', sa.String(length=32), nullable=True),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_response_survey_id_survey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_survey_response_user_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_response')),
    sa.UniqueConstraint('survey_id', 'respondent_key', name=op.f('uq_survey_response_survey_id_respondent_key'))
    )
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_response_survey_id'), ['survey_id'], unique=False)
        batch_op.create_index('ix_survey_response_profile', ['survey_id', 'sector', 'state', 'intended_use'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_response_user_id'), ['user_id'], unique=False)

    op.create_table('survey_section',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_section_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_section'))
    )
    with op.batch_alter_table('survey_section', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_section_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_start',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('responded', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_start_survey_id_survey'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_survey_start_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_start')),
    sa.UniqueConstraint('survey_id', 'user_id', name=op.f('uq_survey_start_survey_id_user_id'))
    )
    with op.batch_alter_table('survey_start', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_start_survey_id'), ['survey_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_start_user_id'), ['user_id'], unique=False)

    op.create_table('survey_question',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('section_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('prompt', sa.String(length=500), nullable=False),
    sa.Column('help_text', sa.Text(), nullable=False),
    sa.Column('required', sa.Boolean(), nullable=False),
    sa.Column('min_value', sa.Float(), nullable=True),
    sa.Column('max_value', sa.Float(), nullable=True),
    sa.Column('scale_min', sa.Integer(), nullable=True),
    sa.Column('scale_max', sa.Integer(), nullable=True),
    sa.Column('scale_min_label', sa.String(length=100), nullable=True),
    sa.Column('scale_max_label', sa.String(length=100), nullable=True),
    sa.Column('show_if', sa.JSON(), nullable=True),
    sa.CheckConstraint("kind IN ('single_choice', 'multiple_choice', 'ranking', 'rating', 'short_text', 'long_text', 'number', 'dataset_demand', 'pairwise')", name=op.f('ck_survey_question_kind')),
    sa.ForeignKeyConstraint(['section_id'], ['survey_section.id'], name=op.f('fk_survey_question_section_id_survey_section'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_question_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_question'))
    )
    with op.batch_alter_table('survey_question', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_question_survey_id'), ['survey_id'], unique=False)

    op.create_table('survey_choice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('submitted_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('moderated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('approved', 'pending', 'rejected')", name=op.f('ck_survey_choice_status')),
    sa.ForeignKeyConstraint(['question_id'], ['survey_question.id'], name=op.f('fk_survey_choice_question_id_survey_question'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_choice'))
    )
    with op.batch_alter_table('survey_choice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_survey_choice_question_id'), ['question_id'], unique=False)

    op.create_table('survey_answer',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('response_id', sa.BigInteger(), nullable=False),
    sa.Column('survey_id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('choice_id', sa.Integer(), nullable=True),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('number', sa.Float(), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('dataset_id', sa.Integer(), nullable=True),
    sa.Column('moderation', sa.String(length=16), nullable=True),
    sa.Column('sector', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['choice_id'], ['survey_choice.id'], name=op.f('fk_survey_answer_choice_id_survey_choice'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['dataset_id'], ['dataset.id'], name=op.f('fk_survey_answer_dataset_id_dataset'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['question_id'], ['survey_question.id'], name=op.f('fk_survey_answer_question_id_survey_question'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['response_id'], ['survey_response.id'], name=op.f('fk_survey_answer_response_id_survey_response'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['survey_id'], ['survey.id'], name=op.f('fk_survey_answer_survey_id_survey'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_survey_answer'))
    )
    with op.batch_alter_table('survey_answer', schema=None) as batch_op:
        batch_op.create_index('ix_survey_answer_question_choice', ['question_id', 'choice_id'], unique=False)
        batch_op.create_index('ix_survey_answer_survey_moderation', ['survey_id', 'moderation'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_answer_response_id'), ['response_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_survey_answer_survey_id'), ['survey_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        # Results group answers by (sector, state, question, value): the columns are strongly
        # correlated, and without these statistics the planner expects ~100x more groups than
        # there are and sorts on disk instead of hashing in memory.
        op.execute(
            "CREATE STATISTICS st_survey_answer_tally (ndistinct) "
            "ON sector, state, question_id, choice_id, number, dataset_id FROM survey_answer"
        )

    op.create_table('wiki_pair',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('token', sa.String(length=64), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('left_id', sa.Integer(), nullable=False),
    sa.Column('right_id', sa.Integer(), nullable=False),
    sa.Column('respondent_key', sa.String(length=64), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['left_id'], ['survey_choice.id'], name=op.f('fk_wiki_pair_left_id_survey_choice'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['survey_question.id'], name=op.f('fk_wiki_pair_question_id_survey_question'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['right_id'], ['survey_choice.id'], name=op.f('fk_wiki_pair_right_id_survey_choice'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wiki_pair')),
    sa.UniqueConstraint('token', name=op.f('uq_wiki_pair_token'))
    )
    with op.batch_alter_table('wiki_pair', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wiki_pair_question_id'), ['question_id'], unique=False)

    op.create_table('wiki_vote',
    sa.Column('id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('pair_id', sa.BigInteger(), nullable=False),
    sa.Column('left_id', sa.Integer(), nullable=False),
    sa.Column('right_id', sa.Integer(), nullable=False),
    sa.Column('choice', sa.String(length=8), nullable=False),
    sa.Column('respondent_key', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("choice IN ('left', 'right', 'skip')", name=op.f('ck_wiki_vote_choice')),
    sa.ForeignKeyConstraint(['left_id'], ['survey_choice.id'], name=op.f('fk_wiki_vote_left_id_survey_choice'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pair_id'], ['wiki_pair.id'], name=op.f('fk_wiki_vote_pair_id_wiki_pair'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['survey_question.id'], name=op.f('fk_wiki_vote_question_id_survey_question'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['right_id'], ['survey_choice.id'], name=op.f('fk_wiki_vote_right_id_survey_choice'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wiki_vote')),
    sa.UniqueConstraint('pair_id', name=op.f('uq_wiki_vote_pair_id'))
    )
    with op.batch_alter_table('wiki_vote', schema=None) as batch_op:
        batch_op.create_index('ix_wiki_vote_question_left_right', ['question_id', 'left_id', 'right_id'], unique=False)



def downgrade():
    with op.batch_alter_table('wiki_vote', schema=None) as batch_op:
        batch_op.drop_index('ix_wiki_vote_question_left_right')

    op.drop_table('wiki_vote')
    with op.batch_alter_table('wiki_pair', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wiki_pair_question_id'))

    op.drop_table('wiki_pair')
    with op.batch_alter_table('survey_answer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_answer_survey_id'))
        batch_op.drop_index(batch_op.f('ix_survey_answer_response_id'))
        batch_op.drop_index('ix_survey_answer_survey_moderation')
        batch_op.drop_index('ix_survey_answer_question_choice')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS st_survey_answer_tally")

    op.drop_table('survey_answer')
    with op.batch_alter_table('survey_choice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_choice_question_id'))

    op.drop_table('survey_choice')
    with op.batch_alter_table('survey_question', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_question_survey_id'))

    op.drop_table('survey_question')
    with op.batch_alter_table('survey_start', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_start_user_id'))
        batch_op.drop_index(batch_op.f('ix_survey_start_survey_id'))

    op.drop_table('survey_start')
    with op.batch_alter_table('survey_section', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_section_survey_id'))

    op.drop_table('survey_section')
    with op.batch_alter_table('survey_response', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_response_user_id'))
        batch_op.drop_index('ix_survey_response_profile')
        batch_op.drop_index(batch_op.f('ix_survey_response_survey_id'))

    op.drop_table('survey_response')
    with op.batch_alter_table('survey_invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_invitation_survey_id'))
        batch_op.drop_index(batch_op.f('ix_survey_invitation_respondent_key'))

    op.drop_table('survey_invitation')
    with op.batch_alter_table('survey_export', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_survey_export_survey_id'))

    op.drop_table('survey_export')
    with op.batch_alter_table('survey', schema=None) as batch_op:
        batch_op.drop_index('ix_survey_status_closes_at')
        batch_op.drop_index(batch_op.f('ix_survey_institution_id'))

    op.drop_table('survey')
