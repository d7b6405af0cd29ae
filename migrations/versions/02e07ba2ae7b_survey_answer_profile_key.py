"""survey_answer.profile_key: the answer set's (sector, state) as one integer, for results

Revision ID: 02e07ba2ae7b
Revises: 5869a61a27d6
Create Date: 2026-11-29 15:12:00.000000

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "02e07ba2ae7b"
down_revision = "5869a61a27d6"
branch_labels = None
depends_on = None

# Results count the answers by (sector, state, question, value) in one GROUP BY; hashing the
# two strings of every row was most of its time over the bare count by (question, value).
# PostgreSQL keeps their hash beside them (surveys.services.results.PROFILE_KEY_SQL computes
# the same expression over the answer sets' profiles to name the groups, and falls back to
# the strings should two profiles of a survey ever share a key). Other databases group by the
# strings and have no such column.
PROFILE_KEY_SQL = "hashtext(coalesce(sector, '') || '|' || coalesce(state, ''))"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE survey_answer ADD COLUMN profile_key integer "
        f"GENERATED ALWAYS AS ({PROFILE_KEY_SQL}) STORED"
    )
    op.execute(
        "CREATE STATISTICS st_survey_answer_profile_tally (ndistinct) "
        "ON profile_key, question_id, choice_id, number, dataset_id FROM survey_answer"
    )


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP STATISTICS IF EXISTS st_survey_answer_profile_tally")
    op.execute("ALTER TABLE survey_answer DROP COLUMN profile_key")
