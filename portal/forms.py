"""What every form of both audiences does alike with a service's refusal."""

from flask_wtf import FlaskForm

from portal.errors import DomainError


def add_error(form: FlaskForm, error: DomainError, fallback: str | None = None) -> None:
    """Show a refusal on the form: beside the field it names (else ``fallback``), or above the form."""
    name = error.field if error.field and getattr(form, error.field, None) is not None else fallback
    field = getattr(form, name, None) if name else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
