"""Tenant scoping in one place: every cockpit query for supplier data goes through these helpers."""

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, select

from portal.extensions import db


def current_organisation_id() -> int:
    if not current_user.is_authenticated:
        abort(401)
    return current_user.organisation_id


def scoped(model, *columns) -> Select:
    """``select(model)`` limited to the signed-in user's organisation."""
    stmt = select(*columns) if columns else select(model)
    return stmt.where(model.organisation_id == current_organisation_id())


def get_or_404(model, object_id: int):
    """One object of the user's organisation, or 404 - never another tenant's, and never a hint it exists."""
    obj = db.session.scalar(scoped(model).where(model.id == object_id))
    if obj is None:
        abort(404)
    return obj
