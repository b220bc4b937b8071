"""How often sign-in may be tried, so that guessing is slow and nobody can lock the owner of a password out.

Two limits: one per client address on every attempt (a single guesser), and one per account address on failed
attempts only (many addresses guessing one account), in steps that lengthen (a few a minute, then fewer an hour and
a day). The account limit would let anyone lock an account by failing on purpose, so a browser that has signed in
to the account before carries a device cookie (OWASP's "device cookies") and only the address limit applies to it;
and a password reset link, which the account limit never touches, signs its owner in on a new device."""

import hashlib

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

DEVICE_COOKIE = "duly_device"


def address_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def account_limit() -> str:
    return current_app.config["LOGIN_ACCOUNT_LIMIT"]


def _account(email: str) -> str:
    # Hashed: the limiter's keys in Redis say nothing of who signs in.
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def account_key() -> str:
    """The account a sign-in is for, the same whether or not it exists (no answer tells them apart)."""
    return "account:" + _account(request.form.get("email") or "")


def failed(response) -> bool:
    """Only a refused sign-in counts against the account: its owner signing in costs nothing."""
    return response.status_code == 422


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="duly-device")


def _max_age() -> int:
    return current_app.config["DEVICE_COOKIE_DAYS"] * 86400


def _known_accounts() -> list[str]:
    """The accounts (hashed) this browser has signed in to, from its device cookie; none if it has none or a bad one."""
    cookie = request.cookies.get(DEVICE_COOKIE)
    if not cookie:
        return []
    try:
        accounts = _serializer().loads(cookie, max_age=_max_age())
    except BadSignature:  # expired, or not ours
        return []
    return accounts if isinstance(accounts, list) else []


def known_device() -> bool:
    """Whether this browser has signed in to the account it now tries (the account limit does not apply)."""
    return _account(request.form.get("email") or "") in _known_accounts()


def remember_device(response, email: str):
    """Mark this browser as one that has signed in to ``email`` (kept beside the accounts it knew already)."""
    account = _account(email)
    accounts = [a for a in _known_accounts() if a != account][-4:] + [account]  # a shared office PC: a few accounts
    response.set_cookie(
        DEVICE_COOKIE,
        _serializer().dumps(accounts),
        max_age=_max_age(),
        secure=current_app.config["SESSION_COOKIE_SECURE"],
        httponly=True,
        samesite="Lax",
    )
    return response
