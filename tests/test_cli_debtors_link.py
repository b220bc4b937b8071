"""`flask debtors link NUMBER --org SLUG`: a URL to send by hand, replacing the previous hand-made one."""

import re
import secrets
from urllib.parse import urlsplit

from sqlalchemy import select

from portal.links.models import AccessLink
from portal.links.service import new_link
from portal.types import utcnow
from tests.factories import make_debtor, make_invoice, make_organisation


def _opens(app, url: str) -> bool:
    browser = app.test_client()
    # Opening links is rate limited per client address: a browser of its own, not 127.0.0.1's budget.
    browser.environ_base["REMOTE_ADDR"] = f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}"
    return browser.get(urlsplit(url).path).status_code == 303 and browser.get("/s/").status_code == 200


def test_prints_a_working_url_and_revokes_the_previous_hand_made_one(app, db_session):
    organisation = make_organisation(db_session, slug="cli-links")
    debtor = make_debtor(db_session, organisation, number="K-100", name="Klant Honderd")
    make_invoice(db_session, debtor, "42.00", number="CLI-1", days_overdue=2)
    message_url, link = new_link(organisation.id, debtor.id, "http://localhost", utcnow())
    db_session.add(link)
    db_session.flush()
    runner = app.test_cli_runner()

    first = runner.invoke(args=["debtors", "link", "K-100", "--org", "cli-links"])

    assert first.exit_code == 0, first.output
    url = first.stdout.strip()
    assert re.fullmatch(r"http://localhost/s/[A-Za-z0-9_-]{32}", url)
    assert "Klant Honderd: works until" in first.stderr
    assert _opens(app, url)
    second = runner.invoke(args=["debtors", "link", "K-100", "--org", "cli-links"])
    assert second.exit_code == 0 and second.stdout.strip() != url
    assert not _opens(app, url)  # the previous hand-made link is dead
    assert _opens(app, second.stdout.strip()) and _opens(app, message_url)  # links in messages stay valid
    kinds = db_session.scalars(select(AccessLink.kind).where(AccessLink.debtor_id == debtor.id)).all()
    assert sorted(kinds) == ["manual", "manual", "message"]


def test_unknown_organisation_or_debtor_is_a_clear_error(app, db_session):
    organisation = make_organisation(db_session, slug="cli-links-2")
    make_debtor(db_session, organisation, number="K-1")
    runner = app.test_cli_runner()

    no_org = runner.invoke(args=["debtors", "link", "K-1", "--org", "nope"])
    assert no_org.exit_code != 0 and "no organisation 'nope'" in no_org.output
    no_debtor = runner.invoke(args=["debtors", "link", "K-404", "--org", "cli-links-2"])
    assert no_debtor.exit_code != 0 and "no debtor numbered 'K-404' in cli-links-2" in no_debtor.output
    missing_org = runner.invoke(args=["debtors", "link", "K-1"])
    assert missing_org.exit_code != 0 and "--org" in missing_org.output
    assert db_session.scalar(select(AccessLink)) is None
