"""The late-payment calculator in Chromium: a supplier checks a claim across a rate change."""

import pytest
from playwright.sync_api import expect

from tests.e2e.test_accounts import publish, unique_email
from tests.factories import PASSWORD, make_organisation, make_user

pytestmark = pytest.mark.browser


def test_the_calculator_shows_the_claim_by_period(visitor, server, live_db):
    organisation = make_organisation(live_db, name="Rekenaar B.V.")
    email = make_user(live_db, organisation, email=unique_email("law")).email
    publish(live_db)
    page = visitor.page
    visitor.login(email, PASSWORD)
    visitor.nav("Late-payment law")
    page.get_by_label("Principal").fill("1000,00")
    page.get_by_label("Due date").fill("2025-06-15")
    page.get_by_label("Paid on (or today)").fill("2025-07-15")
    page.get_by_role("button", name="Calculate").click()
    expect(page.locator("#law-periods tbody tr")).to_have_count(2)
    expect(page.locator("#law-result")).to_contain_text("WIK scale")
    expect(page.locator("#law-result")).to_contain_text("8,75")
    visitor.screenshot("law-calculator")
