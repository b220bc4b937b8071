"""Who may do what in the cockpit: roles are ordered (owner, controller, viewer)."""

from functools import wraps

from flask import abort
from flask_login import current_user


def role_required(role: str):
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.can(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator
