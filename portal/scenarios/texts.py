"""Supplier-edited reminder texts: a small allow-list of {placeholders}, filled in by plain substitution.

Supplier text is never a template: "{{ ''.__class__ }}" or "{% ... %}" is refused as a form error, and an unknown
placeholder too, so that what the supplier typed is exactly what the debtor reads, values included.
"""

import html
import re

# name -> what it becomes (shown to the supplier next to the editor)
PLACEHOLDERS = {
    "debtor_name": "the debtor's name",
    "contact_name": "the name of the contact the reminder goes to",
    "invoice_table": "the invoices of this reminder, each with its number, date, due date and amount due (itemised "
    "as principal, interest and costs where those are claimed)",
    "invoice_numbers": "the invoice numbers, separated by commas",
    "total_due": "the total amount due of the invoices in this reminder (with interest and costs, where claimed)",
    "interest_total": "the statutory interest to date on them (0.00 where none is claimed)",
    "costs_total": "the collection costs owed on them (0.00 where none are claimed)",
    "oldest_due_date": "the earliest due date among them",
    "payment_reference": "the payment reference (of several invoices: each one's, separated by commas)",
    "pay_link": "the link to the self-service page",
    "organisation_name": "your organisation's name",
    "organisation_iban": "your IBAN",
    "sender_name": "the sender name in your settings",
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")


def check_text(text: str) -> list[str]:
    """What is wrong with a supplier's text: template syntax and unknown placeholders. Empty when fine."""
    problems = []
    if _TEMPLATE_SYNTAX.search(text or ""):
        problems.append(
            "Use placeholders like {debtor_name}; template code such as {{ ... }} or {% ... %} is not allowed."
        )
    unknown = sorted({name for name in _PLACEHOLDER.findall(text or "") if name not in PLACEHOLDERS})
    if unknown:
        problems.append(
            "Unknown placeholder"
            + ("s" if len(unknown) > 1 else "")
            + ": "
            + ", ".join(f"{{{n}}}" for n in unknown)
            + ". Allowed: "
            + ", ".join(f"{{{n}}}" for n in PLACEHOLDERS)
            + "."
        )
    stray = re.sub(_PLACEHOLDER, "", text or "")
    if "{" in stray or "}" in stray:
        problems.append("A { or } stands outside a placeholder; placeholders look like {total_due}.")
    return problems


def render_text(text: str, values: dict[str, str]) -> str:
    """Plain-text rendering: each known placeholder replaced by its value."""
    return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))).replace("\x00", ""), text)


def render_html(text: str, values: dict[str, str], html_values: dict[str, str] | None = None) -> str:
    """HTML rendering: the supplier's text and every value escaped; ``html_values`` (e.g. the invoice table) are
    markup Duly built itself. Paragraphs from blank lines, line breaks kept."""
    html_values = html_values or {}
    marker = "\x00{}\x00"
    placed = _PLACEHOLDER.sub(lambda m: marker.format(m.group(1)) if m.group(1) in html_values else m.group(0), text)
    escaped = html.escape(render_text(placed, values))
    escaped = re.sub("\x00([a-z_]+)\x00", lambda m: html_values[m.group(1)], escaped)
    paragraphs = [p.replace("\n", "<br>\n") for p in re.split(r"\n\s*\n", escaped.strip())]
    return "\n".join(f"<p>{p}</p>" for p in paragraphs)
