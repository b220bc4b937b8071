"""The ``flask`` commands, one module per area: ``flask seed-demo``, ``flask ledger-check``, ``flask import-invoices``,
``flask import-statement``, ``flask law``, ``flask reminders``, ``flask debtors`` and ``flask mollie-simulator``.
Each command calls the same services as the pages and jobs."""

from flask import Flask

from portal.cli import bank, debtors, demo, imports, law, ledger, reminders
from portal.mollie_sim.cli import mollie_simulator

COMMANDS = (
    demo.seed_demo,
    ledger.ledger_check,
    imports.import_invoices,
    bank.import_statement,
    law.law,
    reminders.reminders,
    debtors.debtors,
    mollie_simulator,
)


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)
