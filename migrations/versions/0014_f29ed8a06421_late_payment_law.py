"""late-payment law: legal profiles, rate tables, charges on invoices, steps that add them, waivers

Revision ID: f29ed8a06421
Revises: 7d2940c07e3f
Create Date: 2026-12-03 10:10:48.794809

"""

from alembic import op
import sqlalchemy as sa

import portal.types


# revision identifiers, used by Alembic.
revision = "f29ed8a06421"
down_revision = "7d2940c07e3f"
branch_labels = None
depends_on = None

# Plain ADD COLUMN on every table (no batch copy): SQLite adds a column with a constant default in place, and the
# invoices table keeps its open-totals triggers.
INVOICE_MONEY = ("costs_charged", "costs_vat", "costs_paid", "interest_paid")


def upgrade():
    op.create_table(
        "law_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("rate_table", sa.String(length=16), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("basis_points", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_law_rates_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_law_rates")),
        sa.UniqueConstraint(
            "organisation_id",
            "rate_table",
            "effective_on",
            name=op.f("uq_law_rates_organisation_id_rate_table_effective_on"),
        ),
    )
    op.create_index(op.f("ix_law_rates_organisation_id"), "law_rates", ["organisation_id"], unique=False)

    op.add_column("debtors", sa.Column("waive_costs", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column(
        "debtors", sa.Column("waive_costs_reason", sa.String(length=300), server_default="", nullable=False)
    )
    op.add_column("debtors", sa.Column("waive_interest", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column(
        "debtors", sa.Column("waive_interest_reason", sa.String(length=300), server_default="", nullable=False)
    )

    for name in INVOICE_MONEY:
        op.add_column(
            "invoices", sa.Column(name, portal.types.Money(precision=14, scale=2), server_default="0", nullable=False)
        )
    op.add_column("invoices", sa.Column("costs_from", sa.Date(), nullable=True))
    op.add_column("invoices", sa.Column("costs_notice_until", sa.Date(), nullable=True))
    op.add_column("invoices", sa.Column("interest_from", sa.Date(), nullable=True))

    for name, column in (
        ("law_business", sa.String(length=4)),
        ("law_consumer", sa.String(length=4)),
        ("costs_basis", sa.String(length=12)),
    ):
        op.add_column(
            "organisations",
            sa.Column(name, column, server_default="auto" if name == "costs_basis" else "none", nullable=False),
        )
    op.add_column("organisations", sa.Column("costs_add_vat", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column("organisations", sa.Column("costs_vat_rate", sa.Integer(), server_default="21", nullable=False))
    op.add_column("organisations", sa.Column("receipt_days_email", sa.Integer(), server_default="1", nullable=False))
    op.add_column("organisations", sa.Column("receipt_days_letter", sa.Integer(), server_default="2", nullable=False))
    op.add_column("organisations", sa.Column("legal_order", sa.Boolean(), server_default=sa.true(), nullable=False))

    op.add_column("scenario_steps", sa.Column("adds_costs", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column(
        "scenario_steps", sa.Column("adds_interest", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade():
    with op.batch_alter_table("scenario_steps") as batch_op:
        batch_op.drop_column("adds_interest")
        batch_op.drop_column("adds_costs")
    with op.batch_alter_table("organisations") as batch_op:
        for name in (
            "legal_order",
            "receipt_days_letter",
            "receipt_days_email",
            "costs_vat_rate",
            "costs_add_vat",
            "costs_basis",
            "law_consumer",
            "law_business",
        ):
            batch_op.drop_column(name)
    for name in ("interest_from", "costs_notice_until", "costs_from", *INVOICE_MONEY):
        op.drop_column("invoices", name)
    with op.batch_alter_table("debtors") as batch_op:
        for name in ("waive_interest_reason", "waive_interest", "waive_costs_reason", "waive_costs"):
            batch_op.drop_column(name)
    op.drop_index(op.f("ix_law_rates_organisation_id"), table_name="law_rates")
    op.drop_table("law_rates")
