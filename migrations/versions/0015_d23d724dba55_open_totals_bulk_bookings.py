"""open totals: bulk bookings keep them set-wise

Revision ID: d23d724dba55
Revises: f29ed8a06421
Create Date: 2026-12-03 11:05:12.418230

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "d23d724dba55"
down_revision = "f29ed8a06421"
branch_labels = None
depends_on = None

# The row trigger of migration 0004, with one way out: a booking of thousands of invoices at once (a bank
# statement, ledger.record_payments) turns the transaction-local setting duly.bulk_totals on around its one
# UPDATE and adds to the summaries itself, once per due date and per debtor, instead of twice per invoice here.
# Unset (every other write, and every other session) the trigger works as before. SQLite keeps its triggers.
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION duly_invoice_open_totals() RETURNS trigger AS $$
BEGIN
  IF current_setting('duly.bulk_totals', true) = 'on' THEN
    RETURN NULL;
  END IF;
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.kind = 'invoice' AND OLD.status = 'open' THEN
    UPDATE open_invoice_totals
       SET open_amount = open_amount - OLD.open_amount, invoice_count = invoice_count - 1
     WHERE organisation_id = OLD.organisation_id AND currency = OLD.currency AND due_date = OLD.due_date;
    UPDATE debtor_balances
       SET open_amount = open_amount - OLD.open_amount, invoice_count = invoice_count - 1
     WHERE debtor_id = OLD.debtor_id AND currency = OLD.currency;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.kind = 'invoice' AND NEW.status = 'open' THEN
    INSERT INTO open_invoice_totals (organisation_id, currency, due_date, open_amount, invoice_count)
         VALUES (NEW.organisation_id, NEW.currency, NEW.due_date, NEW.open_amount, 1)
    ON CONFLICT (organisation_id, currency, due_date) DO UPDATE
        SET open_amount = open_invoice_totals.open_amount + EXCLUDED.open_amount,
            invoice_count = open_invoice_totals.invoice_count + 1;
    INSERT INTO debtor_balances (debtor_id, currency, organisation_id, open_amount, invoice_count)
         VALUES (NEW.debtor_id, NEW.currency, NEW.organisation_id, NEW.open_amount, 1)
    ON CONFLICT (debtor_id, currency) DO UPDATE
        SET open_amount = debtor_balances.open_amount + EXCLUDED.open_amount,
            invoice_count = debtor_balances.invoice_count + 1;
  END IF;
  RETURN NULL;
END
$$ LANGUAGE plpgsql
"""


def _migration_0004():
    import importlib.util
    from pathlib import Path

    [path] = Path(__file__).parent.glob("0004_*.py")
    spec = importlib.util.spec_from_file_location("duly_migration_0004", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_migration_0004().PG_FUNCTION)
