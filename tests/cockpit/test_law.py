"""The cockpit's late-payment calculator: the same sums as `flask law`, with one line per rate period."""


def test_the_calculator_shows_costs_interest_and_periods(client, signed_in):
    page = client.get(
        "/cockpit/law",
        query_string={
            "profile": "nl",
            "kind": "business",
            "principal": "1000,00",
            "due": "2025-06-15",
            "paid": "2025-07-15",
        },
    )
    assert page.status_code == 200
    # WIK: 15% of 1,000 = 150.00; interest 4.58 + 4.17 = 8.75 (tests/law/test_calculate.py works it out).
    text = page.text.replace("\xa0", " ")
    assert "150,00" in text and "8,75" in text and "1.158,75" in text
    assert "2025-06-16" in text and "11.15%" in text and "10.15%" in text


def test_bad_input_comes_back_with_messages(client, signed_in):
    page = client.get(
        "/cockpit/law",
        query_string={
            "profile": "nl",
            "kind": "business",
            "principal": "lots",
            "due": "2025-06-15",
            "paid": "2025-06-01",
        },
    )
    assert page.status_code == 422 and "lots" in page.text


def test_paid_by_the_due_date_claims_nothing_beside_the_principal(client, signed_in):
    query = {"profile": "nl", "kind": "business", "principal": "1000,00", "due": "2025-06-15", "paid": "2025-06-15"}
    page = client.get("/cockpit/law", query_string=query)
    text = page.text.replace("\xa0", " ")
    assert page.status_code == 200 and "not late: paid by the due date" in text and "1.000,00" in text
    assert "150,00" not in text


def test_the_empty_form(client, signed_in):
    assert client.get("/cockpit/law").status_code == 200


def test_the_eu_profile_prints_nothing_for_a_consumer_and_says_why(client, signed_in):
    query = {"profile": "eu", "kind": "consumer", "principal": "1000,00", "due": "2025-06-15", "paid": "2025-07-15"}
    text = client.get("/cockpit/law", query_string=query).text.replace("\xa0", " ")
    assert text.count("the EU directive covers business debtors only") == 2  # costs and interest
    assert "1.000,00" in text and "€ 0,00" in text
