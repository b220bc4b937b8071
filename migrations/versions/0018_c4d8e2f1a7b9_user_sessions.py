"""user sessions: signing out ends a session on the server

Revision ID: c4d8e2f1a7b9
Revises: b7e1c0d2a9f3
Create Date: 2026-12-05 18:35:07.813410

"""

from alembic import op
import sqlalchemy as sa

import portal.types

# revision identifiers, used by Alembic.
revision = "c4d8e2f1a7b9"
down_revision = "b7e1c0d2a9f3"
branch_labels = None
depends_on = None

# Flask's session cookie is signed, not stored: a copy of it worked until it expired (31 days), signed out or not.
# Each sign-in now has a row (the SHA-256 of a token the cookie carries); signing out deletes it, a new password
# deletes them all. Sessions signed in before this migration have no row: their users sign in once more.


def upgrade():
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", portal.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_sessions_token_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)


def downgrade():
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))
    op.drop_table("user_sessions")
