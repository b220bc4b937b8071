"""vocabulary: CHECK constraints on every status and kind column; paid claims as a table of their own

Revision ID: b7e1c0d2a9f3
Revises: a6c41e0b7d2f
Create Date: 2026-12-05 13:00:00.000000

"""

import importlib.util
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from alembic import op

import portal.types

# revision identifiers, used by Alembic.
revision = "b7e1c0d2a9f3"
down_revision = "a6c41e0b7d2f"
branch_labels = None
depends_on = None

# The values each status and kind column may hold, as the models' StrEnums say (portal.types.vocabulary); written
# out here because a migration is a record of its day. Each becomes CHECK (column IN (...)) named ck_<table>_<column>,
# the name the models' Enum types give it. The events' kinds are left out on purpose: the timeline's vocabulary
# grows with every feature and is checked in code (portal.events.EventKind), not by a migration per new kind.
VOCABULARY = {
    "invoices": {
        "kind": ("invoice", "credit_note"),
        "status": ("open", "paid"),
        "source": ("manual", "csv", "ubl", "api", "demo"),
    },
    "debtors": {"kind": ("business", "consumer")},
    "contacts": {"role": ("invoice", "dunning", "other")},
    "payments": {"method": ("manual", "mollie", "bank", "demo")},
    "allocations": {"component": ("principal", "interest", "costs")},
    "access_links": {"kind": ("message", "manual", "mailed")},
    "promises": {"status": ("open", "kept", "broken", "withdrawn"), "source": ("selfservice", "cockpit")},
    "disputes": {
        "reason": ("not_received", "wrong_amount", "already_paid", "quality", "not_ordered", "other"),
        "status": ("open", "resolved"),
        "resolution": ("credited", "corrected", "rejected"),
    },
    "mail_messages": {"status": ("queued", "sending", "sent", "outbox", "failed", "unknown")},
    "scenario_steps": {
        "anchor": ("issue_date", "due_date"),
        "channel": ("email", "phone", "letter"),
        "tone": ("courtesy", "friendly", "neutral", "firm", "final"),
    },
    "reminders": {
        "kind": ("reminder", "delivery"),
        "status": (
            "scheduled", "blocked", "claimed", "sending", "sent", "skipped", "failed", "unknown", "todo", "done",
        ),
    },
    "arrangements": {
        "status": (
            "proposed", "offered", "active", "completed", "broken", "rejected", "countered", "declined", "withdrawn",
        ),
        "source": ("selfservice", "cockpit"),
        "frequency": ("weekly", "monthly"),
    },
    "installment_notices": {"stage": ("before", "due")},
    "bank_statements": {"status": ("queued", "running", "done", "failed")},
    "bank_transactions": {"status": ("booked", "returned", "suggested", "unmatched", "ignored", "dismissed")},
    "import_mappings": {"kind": ("csv", "ubl")},
    "import_batches": {
        "kind": ("csv", "ubl"),
        "status": ("uploaded", "previewed", "queued", "running", "done", "failed"),
    },
    "mollie_payments": {
        "status": ("creating", "open", "pending", "authorized", "paid", "canceled", "expired", "failed"),
    },
    "users": {"role": ("owner", "controller", "viewer")},
    "auth_tokens": {"purpose": ("reset", "invite")},
}
PAID_CLAIM_REASON = "Paid, the debtor says"


def _condition(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _restore_sqlite_triggers():
    """On SQLite a new constraint means the table is copied (batch mode), and the copy has none of the triggers that
    keep the open totals (migration 0004): create them again, exactly as 0004 wrote them (as 0011 does)."""
    [path] = Path(__file__).parent.glob("0004_*.py")
    spec = importlib.util.spec_from_file_location("duly_migration_0004", path)
    m0004 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0004)
    for name in ("invoices_open_totals_insert", "invoices_open_totals_update", "invoices_open_totals_delete"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for trigger in m0004.SQLITE_TRIGGERS:
        op.execute(trigger)


def _paid_claims_from_events():
    """Each "I have already paid" so far, from its timeline event: a claim with its invoices; the invoices it still
    holds (open, held until the claim's day with its reason) point to it."""
    bind = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id", sa.Integer),
        sa.column("organisation_id", sa.Integer),
        sa.column("debtor_id", sa.Integer),
        sa.column("kind", sa.String),
        sa.column("data", sa.JSON),
        sa.column("created_at", portal.types.UTCDateTime()),
    )
    claims = sa.table(
        "paid_claims",
        sa.column("id", sa.Integer),
        sa.column("organisation_id", sa.Integer),
        sa.column("debtor_id", sa.Integer),
        sa.column("paid_on", sa.Date),
        sa.column("comment", sa.Text),
        sa.column("until", sa.Date),
        sa.column("created_at", portal.types.UTCDateTime()),
    )
    links = sa.table("paid_claim_invoices", sa.column("paid_claim_id", sa.Integer), sa.column("invoice_id", sa.Integer))
    invoices = sa.table(
        "invoices",
        sa.column("id", sa.Integer),
        sa.column("organisation_id", sa.Integer),
        sa.column("status", sa.String),
        sa.column("hold_until", sa.Date),
        sa.column("hold_reason", sa.String),
        sa.column("paid_claim_id", sa.Integer),
    )
    rows = bind.execute(
        sa.select(events.c.organisation_id, events.c.debtor_id, events.c.data, events.c.created_at)
        .where(events.c.kind == "invoice:paid:claimed", events.c.debtor_id.is_not(None))
        .order_by(events.c.id)
    ).all()
    for organisation_id, debtor_id, data, created_at in rows:
        data = data or {}
        until = data.get("until")
        if not until:
            continue
        claim_id = bind.execute(
            sa.insert(claims)
            .values(
                organisation_id=organisation_id,
                debtor_id=debtor_id,
                paid_on=date.fromisoformat(data["paid_on"]) if data.get("paid_on") else None,
                comment=data.get("comment") or "",
                until=date.fromisoformat(until),
                created_at=created_at,
            )
            .returning(claims.c.id)
        ).scalar_one()
        ids = [int(i) for i in str(data.get("invoice_ids") or "").split(",") if i.isdigit()]
        known = bind.execute(
            sa.select(invoices.c.id).where(invoices.c.id.in_(ids), invoices.c.organisation_id == organisation_id)
        ).scalars().all() if ids else []
        if known:
            bind.execute(sa.insert(links), [{"paid_claim_id": claim_id, "invoice_id": i} for i in known])
            bind.execute(
                sa.update(invoices)
                .where(
                    invoices.c.id.in_(known),
                    invoices.c.status == "open",
                    invoices.c.hold_until == date.fromisoformat(until),
                    invoices.c.hold_reason.startswith(PAID_CLAIM_REASON),
                )
                .values(paid_claim_id=claim_id)
            )


def upgrade():
    op.create_table(
        "paid_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("debtor_id", sa.Integer(), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("until", sa.Date(), nullable=False),
        sa.Column("created_at", portal.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["debtor_id"], ["debtors.id"], name=op.f("fk_paid_claims_debtor_id_debtors")),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisations.id"], name=op.f("fk_paid_claims_organisation_id_organisations")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_paid_claims")),
    )
    with op.batch_alter_table("paid_claims", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_paid_claims_debtor_id"), ["debtor_id"], unique=False)
        batch_op.create_index("ix_paid_claims_org_created", ["organisation_id", "created_at"], unique=False)
    op.create_table(
        "paid_claim_invoices",
        sa.Column("paid_claim_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoices.id"],
            name=op.f("fk_paid_claim_invoices_invoice_id_invoices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paid_claim_id"],
            ["paid_claims.id"],
            name=op.f("fk_paid_claim_invoices_paid_claim_id_paid_claims"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("paid_claim_id", "invoice_id", name=op.f("pk_paid_claim_invoices")),
    )

    for table, columns in VOCABULARY.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "invoices":
                batch_op.add_column(sa.Column("paid_claim_id", sa.Integer(), nullable=True))
                batch_op.create_foreign_key(
                    batch_op.f("fk_invoices_paid_claim_id_paid_claims"),
                    "paid_claims",
                    ["paid_claim_id"],
                    ["id"],
                    ondelete="SET NULL",
                )
            for column, values in columns.items():
                batch_op.create_check_constraint(column, _condition(column, values))
    if _sqlite():
        _restore_sqlite_triggers()
    _paid_claims_from_events()


def downgrade():
    for table, columns in reversed(VOCABULARY.items()):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.drop_constraint(batch_op.f(f"ck_{table}_{column}"), type_="check")
            if table == "invoices":
                batch_op.drop_constraint(batch_op.f("fk_invoices_paid_claim_id_paid_claims"), type_="foreignkey")
                batch_op.drop_column("paid_claim_id")
    if _sqlite():
        _restore_sqlite_triggers()
    op.drop_table("paid_claim_invoices")
    with op.batch_alter_table("paid_claims", schema=None) as batch_op:
        batch_op.drop_index("ix_paid_claims_org_created")
        batch_op.drop_index(batch_op.f("ix_paid_claims_debtor_id"))
    op.drop_table("paid_claims")
