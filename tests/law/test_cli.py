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
