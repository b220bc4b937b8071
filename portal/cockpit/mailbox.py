"""The mailbox: what Duly sent (or keeps in its local outbox when no SMTP server is set)."""

from flask import render_template
from flask_login import current_user

from portal.cockpit import bp
from portal.extensions import db
from portal.htmx import render_page_or_fragment
from portal.links.service import hide_tokens
from portal.mail.models import MailMessage
from portal.tenancy import get_or_404, scoped

# The role that may act for a debtor (pause reminders, plan, dispute): a self-service link in a mail lets whoever
# holds it do that as the debtor, so roles below see the mail with the link's token hidden.
SEES_LINKS = "controller"
HIDDEN_LINK = "[self-service link hidden]"


@bp.app_template_filter("mail_copy")
def mail_copy(text: str) -> str:
    """A stored mail's subject or body as the signed-in user may read it: link tokens hidden below controller."""
    return text if current_user.can(SEES_LINKS) else hide_tokens(text, HIDDEN_LINK)


@bp.get("/mailbox")
def mailbox():
    """Mail Duly sent for this organisation (with no SMTP server configured: the local outbox)."""
    messages = db.session.scalars(scoped(MailMessage).order_by(MailMessage.id.desc()).limit(200))
    return render_page_or_fragment("cockpit/mailbox.html", "cockpit/_mail_rows.html", messages=list(messages))


@bp.get("/mailbox/<int:message_id>")
def mail_message(message_id: int):
    """One message as it was sent."""
    message = get_or_404(MailMessage, message_id)
    # A reset link is a key to someone's account: only its addressee may read it. An invitation goes to someone
    # without an account yet, so the owners who invite may read that one (the demo delivers it this way).
    readable = (
        not message.sensitive
        or message.to_address == current_user.email
        or (message.template == "invitation" and current_user.can("owner"))
        or message.template in ("reminder", "invoice")  # the supplier's own mail to its customer
    )
    return render_template("cockpit/mail_message.html", message=message, readable=readable)
