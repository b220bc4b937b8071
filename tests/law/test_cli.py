"""`flask law costs` and `flask law interest`: the calculator for suppliers who want to check a claim."""


def test_costs(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["law", "costs", "--profile", "nl", "--kind", "business", "--principal", "7500"])
    assert result.exit_code == 0 and result.output.strip() == "costs 750.00: WIK scale"
    with_vat = runner.invoke(
        args=["law", "costs", "--profile", "nl", "--kind", "consumer", "--principal", "1000,00", "--vat"]
    )
    assert with_vat.output.strip() == "costs 181.50 (of which VAT 31.50): WIK scale plus 21% VAT"
    refused = runner.invoke(args=["law", "costs", "--profile", "nl", "--kind", "business", "--principal", "lots"])
    assert refused.exit_code == 2 and "--principal" in refused.output


def test_interest_prints_a_line_per_rate_period_and_the_total(app):
    result = app.test_cli_runner().invoke(
        args=[
            "law",
            "interest",
            "--profile",
            "nl",
            "--kind",
            "business",
            "--principal",
            "1000",
            "--due",
            "2025-06-15",
            "--paid",
            "2025-07-15",
        ]
    )
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "2025-06-16 to 2025-06-30: 15 days at 11.15% on 1000.00: 4.58",
        "2025-07-01 to 2025-07-15: 15 days at 10.15% on 1000.00: 4.17",
        "total 8.75",
    ]


def _interest_args(profile, kind, *more):
    return ["law", "interest", "--profile", profile, "--kind", kind, "--principal", "1000", *more]


def test_the_eu_profile_gives_consumers_no_interest_and_says_why(app):
    result = app.test_cli_runner().invoke(
        args=_interest_args("eu", "consumer", "--due", "2026-01-01", "--paid", "2026-03-01")
    )
    assert result.exit_code == 0
    assert result.output.strip() == "total 0.00 (the EU directive covers business debtors only)"


def test_interest_with_an_organisations_own_rates(app, db_session):
    from datetime import date

    from portal.law.models import LawRate
    from tests.factories import make_organisation

    organisation = make_organisation(db_session, slug="own-rates")
    db_session.add(
        LawRate(
            organisation_id=organisation.id,
            rate_table="nl_commercial",
            effective_on=date(2026, 1, 1),
            basis_points=1200,
        )
    )
    db_session.commit()
    runner = app.test_cli_runner()
    # 1,000.00 x 12% x 31 days (1-31 Jan) / 365 = 10.19.
    own = runner.invoke(
        args=_interest_args("nl", "business", "--due", "2025-12-31", "--paid", "2026-01-31", "--org", "own-rates")
    )
    assert own.exit_code == 0 and own.output.splitlines()[-1] == "total 10.19"
    missing = runner.invoke(
        args=_interest_args("nl", "business", "--due", "2025-12-31", "--paid", "2026-01-31", "--org", "nope")
    )
    assert missing.exit_code == 1 and "no organisation 'nope'" in missing.output
