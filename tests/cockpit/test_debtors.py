from decimal import Decimal

from sqlalchemy import select

from portal.debtors.models import Debtor
from portal.ledger.models import Payment
from tests.conftest import csrf_from
from tests.factories import make_debtor, make_invoice, make_user


def form(client, url, **values):
    return {
        "csrf_token": csrf_from(client.get(url).text),
        "kind": "business",
        "language": "nl",
        "country": "NL",
        **values,
    }


def test_create_debtor_with_a_dunning_contact(client, db_session, org, signed_in):
    data = form(
        client,
        "/cockpit/debtors/new",
        name="Bakkerij Brood",
        number="D-77",
        email="Info@Brood.example",
        dunning_contact_name="Crediteuren",
        dunning_contact_email="crediteuren@brood.example",
    )
    response = client.post("/cockpit/debtors/new", data=data)
    assert response.status_code == 303
    debtor = db_session.scalar(select(Debtor).where(Debtor.number == "D-77"))
    assert debtor.organisation_id == org.id and debtor.email == "info@brood.example"
    assert debtor.dunning_email == "crediteuren@brood.example"
    page = client.get(response.headers["Location"])
    assert "Bakkerij Brood" in page.text and "Reminders to" in page.text


def test_debtor_form_errors_rerender_and_keep_input(client, db_session, org, signed_in):
    make_debtor(db_session, org, number="D-1")
    data = form(client, "/cockpit/debtors/new", name="Second", number="D-1", email="not an address")
    response = client.post("/cockpit/debtors/new", data=data)
    assert response.status_code == 422 and "Invalid email" in response.text and 'value="Second"' in response.text
    data["email"] = ""
    response = client.post("/cockpit/debtors/new", data=data)
    assert response.status_code == 422 and "already in use" in response.text
    assert db_session.scalar(select(Debtor).where(Debtor.name == "Second")) is None


def test_edit_debtor(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org, name="Old Name")
    url = f"/cockpit/debtors/{debtor.id}/edit"
    page = client.get(url)
    assert 'value="Old Name"' in page.text
    response = client.post(url, data=form(client, url, name="New Name", number=debtor.number, kind="consumer"))
    assert response.status_code == 303
    db_session.refresh(debtor)
    assert (debtor.name, debtor.kind) == ("New Name", "consumer")


def test_viewer_cannot_create_or_edit(client, auth, db_session, org):
    viewer = make_user(db_session, org, role="viewer")
    debtor = make_debtor(db_session, org)
    auth.login(viewer.email)
    assert client.get("/cockpit/debtors/new").status_code == 403
    token = csrf_from(client.get("/cockpit/debtors").text)
    assert client.post(f"/cockpit/debtors/{debtor.id}/edit", data={"csrf_token": token, "name": "x"}).status_code == 403
    assert client.get(f"/cockpit/debtors/{debtor.id}").status_code == 200


def test_debtor_list_search_sort_and_page(client, db_session, org, signed_in):
    for n in range(55):
        make_debtor(db_session, org, name=f"Klant {n:02d}", number=f"K{n:02d}")
    make_debtor(db_session, org, name="Zeilmakerij Wind", number="Z1", email="wind@example.com")
    first = client.get("/cockpit/debtors").text
    assert "Klant 00" in first and "Zeilmakerij" not in first and "Next" in first
    second = client.get("/cockpit/debtors?page=2").text
    assert "Zeilmakerij Wind" in second and "Klant 00" not in second
    assert "Zeilmakerij Wind" in client.get("/cockpit/debtors?sort=-name").text
    found = client.get("/cockpit/debtors?q=zeilmak").text
    assert "Zeilmakerij Wind" in found and "Klant" not in found
    assert "Zeilmakerij Wind" in client.get("/cockpit/debtors?q=Z1").text
    fragment = client.get("/cockpit/debtors?q=wind", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and "Zeilmakerij Wind" in fragment.text
    assert "No debtor matches" in client.get("/cockpit/debtors?q=nothing-like-this").text


def test_record_payment_on_chosen_invoices_with_overpayment_as_credit(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    older = make_invoice(db_session, debtor, "100.00", days_overdue=40)
    newer = make_invoice(db_session, debtor, "50.00", days_overdue=5)
    url = f"/cockpit/debtors/{debtor.id}"
    token = csrf_from(client.get(url).text)
    response = client.post(
        f"{url}/payments",
        data={
            "csrf_token": token,
            "amount": "70,00",
            "currency": "EUR",
            "received_on": "2026-11-20",
            "reference": "bank",
            "invoice_id": [str(newer.id)],
        },
        follow_redirects=True,
    )
    assert "20.00 stays as credit" in response.text
    db_session.refresh(newer), db_session.refresh(older)
    assert newer.open_amount == Decimal("0.00") and older.open_amount == Decimal("100.00")
    # No invoice ticked: oldest first.
    client.post(
        f"{url}/payments", data={"csrf_token": token, "amount": "30.00", "currency": "EUR", "received_on": "2026-11-21"}
    )
    db_session.refresh(older)
    assert older.open_amount == Decimal("70.00")


def test_bad_payment_is_refused_with_a_message(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    make_invoice(db_session, debtor, "10.00")
    url = f"/cockpit/debtors/{debtor.id}"
    token = csrf_from(client.get(url).text)
    response = client.post(
        f"{url}/payments",
        data={"csrf_token": token, "amount": "1.234", "currency": "EUR", "received_on": "2026-11-20"},
        follow_redirects=True,
    )
    assert "The payment was not recorded" in response.text and "Ambiguous amount" in response.text
    assert db_session.scalar(select(Payment).where(Payment.debtor_id == debtor.id)) is None


def test_credit_note_applied_to_the_invoice_it_corrects(client, db_session, org, signed_in):
    debtor = make_debtor(db_session, org)
    invoice = make_invoice(db_session, debtor, "80.00", number="F-1")
    url = f"/cockpit/debtors/{debtor.id}"
    token = csrf_from(client.get(url).text)
    response = client.post(
        f"{url}/credit-notes",
        data={
            "csrf_token": token,
            "number": "C-1",
            "issue_date": "2026-11-22",
            "total": "30,00",
            "corrects_invoice_id": str(invoice.id),
        },
    )
    assert response.status_code == 303
    db_session.refresh(invoice)
    assert invoice.open_amount == Decimal("50.00")
    page = client.get(f"{url}?show=credit_notes").text
    assert "C-1" in page


def test_debtors_sorted_by_what_they_owe(client, db_session, org, signed_in):
    small, big, none = (make_debtor(db_session, org, name=n) for n in ("Small Owes", "Big Owes", "Owes Nothing"))
    make_invoice(db_session, small, "10.00")
    make_invoice(db_session, big, "500.00")
    make_invoice(db_session, big, "20.00", days_overdue=3)
    page = client.get("/cockpit/debtors?sort=-open").text
    assert page.index("Big Owes") < page.index("Small Owes") < page.index("Owes Nothing")
    assert "520,00" in page and "20,00" in page  # open and overdue of Big Owes


def test_names_are_found_whatever_their_case_beyond_ascii(client, db_session, org, signed_in):
    """SQLite's own lower() folds ASCII only; Duly's folds all of Unicode on both databases: the search and the
    import's match by name find "ÖLMÜHLE" however it is typed."""
    from portal.debtors.service import find_debtor
    from tests.factories import make_debtor

    debtor = make_debtor(db_session, org, name="ÖLMÜHLE Ærø GmbH")
    assert find_debtor(db_session, org.id, name="ölmühle ærø gmbh").id == debtor.id
    page = client.get("/cockpit/debtors?q=ölmühle").text
    assert "ÖLMÜHLE Ærø GmbH" in page
