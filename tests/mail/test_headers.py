"""Names and addresses become mail headers: a line break in one must never add a header (say Bcc)."""

from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from portal.mail import service
from portal.mail.models import MailMessage


@pytest.mark.parametrize(
    "value",
    ["a@example.com\r\nBcc: x@example.com", "a\nb", "a\rb", "a\u2028b", "a\x85b", "a\x0bb", "a\x00b"],
)
def test_check_header_safe_refuses_line_breaks(value):
    with pytest.raises(ValueError, match="line breaks"):
        service.check_header_safe("fine@example.com", value)


@pytest.mark.parametrize("value", ["ann@example.com", "Duly <no-reply@duly.test>", "Zoë Ândré", "", None])
def test_check_header_safe_accepts_ordinary_values(value):
    service.check_header_safe(value)


@pytest.mark.parametrize("field", ["to", "from_address"])
def test_queue_mail_refuses_an_injected_header(db_session, field):
    values = {"to": "ann@example.com", "from_address": "Duly <no-reply@duly.test>"}
    values[field] = values[field] + "\r\nBcc: x@example.com"
    before = db_session.scalar(select(func.count()).select_from(MailMessage))
    with pytest.raises(ValueError, match="line breaks"):
        service.queue_mail(
            db_session,
            template="password_reset",
            context={"user": SimpleNamespace(name="Ann", email="ann@example.com"), "link": "x", "hours": 2},
            **values,
        )
    assert db_session.scalar(select(func.count()).select_from(MailMessage)) == before
