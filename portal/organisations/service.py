"""Organisations and their users: sign-up, sign-in, password reset and invitations."""

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from stdnum import iban as stdnum_iban
from werkzeug.security import check_password_hash, generate_password_hash

from portal import events
from portal.errors import DomainError
from portal.events import EventKind
from portal.mail.service import check_header_safe
from portal.organisations.models import (
    REFERENCE_SCHEMES,
    ROLES,
    AuthToken,
    Organisation,
    TokenPurpose,
    User,
    UserSession,
)
from portal.scenarios.defaults import ensure_default_scenarios
from portal.types import utcnow

MIN_PASSWORD = 10
# The domain of the accounts `flask seed-demo` makes (portal.demo, portal.bulk_seed), refused at sign-in in production.
SEEDED_DOMAIN = "duly.test"
# Checked against when an address is unknown, so that a wrong address costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("timing-equaliser-not-a-password")


class AccountError(DomainError):
    """The message is safe to show to the person who made the request."""


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:50] or "org"


def _header_safe(*values: str) -> None:
    try:
        check_header_safe(*values)
    except ValueError as exc:
        raise AccountError(str(exc)) from None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password has at least {MIN_PASSWORD} characters")


def sign_up(
    session: Session,
    *,
    organisation_name: str,
    name: str,
    email: str,
    password: str,
    timezone: str = "Europe/Amsterdam",
    locale: str = "nl",
    slug: str | None = None,
) -> User:
    """Create an organisation with its first owner."""
    email = email.strip().lower()
    _header_safe(organisation_name, name, email)
    if session.scalar(select(User.id).where(User.email == email)):
        raise AccountError("an account with this address exists; sign in or reset the password")
    _check_password(password)
    base = slug or _slugify(organisation_name)
    slug, n = base, 1
    while session.scalar(select(Organisation.id).where(Organisation.slug == slug)):
        n += 1
        slug = f"{base}-{n}"
    organisation = Organisation(
        slug=slug,
        name=organisation_name.strip(),
        timezone=timezone,
        locale=locale,
        sender_name=organisation_name.strip(),
        sender_email=email,
    )
    user = User(
        organisation=organisation,
        email=email,
        name=name.strip(),
        role="owner",
        password_hash=generate_password_hash(password),
    )
    session.add_all([organisation, user])
    session.flush()
    # Ready to use: importing invoices is all it takes to see a schedule.
    ensure_default_scenarios(session, organisation.id)
    events.record(
        session, organisation.id, EventKind.ORGANISATION_CREATED, actor_user_id=user.id, name=organisation.name
    )
    return user


def is_seeded_account(email: str) -> bool:
    """Made by `flask seed-demo` (demo@duly.test, owner@SLUG.duly.test) with a password printed for everyone; .test
    is a reserved name, so no one signs up with such an address."""
    domain = email.strip().lower().rpartition("@")[2]
    return domain == SEEDED_DOMAIN or domain.endswith("." + SEEDED_DOMAIN)


def authenticate(session: Session, email: str, password: str, *, seeded_accounts: bool = True) -> User | None:
    """The active user with this address and password; ``seeded_accounts=False`` (production) refuses the seeds'
    accounts even with the right password."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or user.password_hash is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.active:
        return None
    if not seeded_accounts and is_seeded_account(user.email):
        return None
    user.last_login_at = utcnow()
    return user


def _void_tokens(session: Session, user_id: int, purpose: TokenPurpose | None = None) -> None:
    """The user's links not used yet (of one purpose, or all) stop working."""
    condition = [AuthToken.user_id == user_id, AuthToken.used_at.is_(None)]
    if purpose is not None:
        condition.append(AuthToken.purpose == purpose)
    session.execute(
        update(AuthToken).where(*condition).values(used_at=utcnow()).execution_options(synchronize_session=False)
    )


def _issue_token(session: Session, user: User, purpose: TokenPurpose, lifetime: timedelta) -> str:
    """A new link for the user; it voids the earlier ones of its purpose, so one link of each kind is live at a time:
    an old invitation in a forwarded mail or in the Mailbox cannot be used after a new one went out."""
    _void_tokens(session, user.id, purpose)
    token = secrets.token_urlsafe(32)  # 256 random bits
    session.add(
        AuthToken(user_id=user.id, purpose=purpose, token_hash=_hash_token(token), expires_at=utcnow() + lifetime)
    )
    return token


def _use_token(session: Session, token: str, purpose: TokenPurpose, now: datetime | None = None) -> User:
    now = now or utcnow()
    token_hash = _hash_token(token)
    # One conditional UPDATE: a token is used at most once even when two requests race with it.
    result = session.execute(
        update(AuthToken)
        .where(
            AuthToken.token_hash == token_hash,
            AuthToken.purpose == purpose,
            AuthToken.used_at.is_(None),
            AuthToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise AccountError("this link has expired or was already used; ask for a new one")
    record = session.scalar(select(AuthToken).where(AuthToken.token_hash == token_hash))
    return record.user


def peek_token(session: Session, token: str, purpose: TokenPurpose) -> User | None:
    """The user a still-valid token belongs to, without using it (to show the form)."""
    record = session.scalar(
        select(AuthToken).where(
            AuthToken.token_hash == _hash_token(token),
            AuthToken.purpose == purpose,
            AuthToken.used_at.is_(None),
            AuthToken.expires_at > utcnow(),
        )
    )
    if record is None or (purpose == TokenPurpose.INVITE and record.user.password_hash is not None):
        return None
    return record.user


# Where the session cookie keeps its token (portal.auth.views signs in and out, the app's user loader checks it).
SESSION_TOKEN_KEY = "session_token"  # noqa: S105 - the name of a session key, not a secret


def start_session(session: Session, user: User, lifetime: timedelta) -> str:
    """A new signed-in session for the user: its token goes into the session cookie. The user's sessions older than
    the cookie's lifetime go at the same time (their cookies have expired)."""
    session.execute(
        delete(UserSession).where(UserSession.user_id == user.id, UserSession.created_at < utcnow() - lifetime)
    )
    token = secrets.token_urlsafe(32)
    session.add(UserSession(user_id=user.id, token_hash=_hash_token(token)))
    return token


def session_is_live(session: Session, user_id: int, token: str) -> bool:
    """Whether the session with this token is still signed in (not signed out, no new password since)."""
    return bool(token) and (
        session.scalar(
            select(UserSession.id).where(UserSession.user_id == user_id, UserSession.token_hash == _hash_token(token))
        )
        is not None
    )


def end_session(session: Session, token: str) -> None:
    """Sign out: this session's token stops working, wherever a copy of the cookie is."""
    if token:
        session.execute(delete(UserSession).where(UserSession.token_hash == _hash_token(token)))


def request_password_reset(session: Session, email: str, lifetime: timedelta) -> tuple[User, str] | None:
    """A reset token for an active user, or None; callers answer the same either way."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None or not user.active or user.password_hash is None:
        return None
    return user, _issue_token(session, user, TokenPurpose.RESET, lifetime)


def reset_password(session: Session, token: str, password: str) -> User:
    _check_password(password)
    user = _use_token(session, token, TokenPurpose.RESET)
    user.password_hash = generate_password_hash(password)
    _void_tokens(session, user.id)  # any other link sent before is dead now
    session.execute(delete(UserSession).where(UserSession.user_id == user.id))  # and every session signed in before
    events.record(session, user.organisation_id, EventKind.USER_PASSWORD_RESET, actor_user_id=user.id)
    return user


def invite_user(
    session: Session,
    organisation_id: int,
    *,
    email: str,
    name: str,
    role: str,
    lifetime: timedelta,
    actor_id: int,
) -> tuple[User, str]:
    if role not in ROLES:
        raise AccountError(f"role is one of {', '.join(ROLES)}")
    email = email.strip().lower()
    _header_safe(name, email)
    existing = session.scalar(select(User).where(User.email == email))
    if existing is not None and (existing.organisation_id != organisation_id or existing.password_hash):
        raise AccountError("this address already has a Duly account")
    user = existing or User(organisation_id=organisation_id, email=email)
    user.name, user.role, user.active = name.strip(), role, True
    session.add(user)
    session.flush()
    token = _issue_token(session, user, TokenPurpose.INVITE, lifetime)
    events.record(session, organisation_id, EventKind.USER_INVITED, actor_user_id=actor_id, email=email, role=role)
    return user, token


def accept_invitation(session: Session, token: str, name: str, password: str) -> User:
    _check_password(password)
    user = _use_token(session, token, TokenPurpose.INVITE)
    if user.password_hash is not None:
        # Joined already: an invitation never sets the password of an account (that is what a reset link is for).
        raise AccountError("you have joined already: sign in, or reset your password if you forgot it")
    user.password_hash = generate_password_hash(password)
    _void_tokens(session, user.id, TokenPurpose.INVITE)
    if name.strip():
        user.name = name.strip()
    events.record(session, user.organisation_id, EventKind.USER_JOINED, actor_user_id=user.id)
    return user


def change_role(session: Session, organisation_id: int, user_id: int, role: str, *, actor_id: int) -> User:
    if role not in ROLES:
        raise AccountError(f"role is one of {', '.join(ROLES)}")
    user = session.get(User, user_id)
    if user is None or user.organisation_id != organisation_id:
        raise AccountError("no such user")
    owners = session.scalar(
        select(func.count(User.id)).where(
            User.organisation_id == organisation_id, User.role == "owner", User.active.is_(True)
        )
    )
    if user.role == "owner" and role != "owner" and owners <= 1:
        raise AccountError("an organisation keeps at least one owner")
    user.role = role
    events.record(
        session, organisation_id, EventKind.USER_ROLE_CHANGED, actor_user_id=actor_id, email=user.email, role=role
    )
    return user


def update_settings(session: Session, organisation_id: int, *, actor_id: int, **values) -> Organisation:
    organisation = session.get(Organisation, organisation_id)
    if "reference_scheme" in values and values["reference_scheme"] not in REFERENCE_SCHEMES:
        raise AccountError("unknown payment reference scheme")
    if values.get("iban"):
        try:
            values["iban"] = stdnum_iban.validate(values["iban"])
        except ValueError:
            raise AccountError("this IBAN is not valid") from None
    _header_safe(values.get("sender_name", ""), values.get("sender_email", ""))
    for key, value in values.items():
        setattr(organisation, key, value)
    events.record(session, organisation_id, EventKind.ORGANISATION_SETTINGS_CHANGED, actor_user_id=actor_id)
    return organisation


def supplier_address(session: Session, organisation: Organisation) -> str:
    """Where a debtor's message goes: the organisation's sender address, else its first owner."""
    if organisation.sender_email:
        return organisation.sender_email
    owner = session.scalar(
        select(User.email)
        .where(User.organisation_id == organisation.id, User.role == "owner", User.active.is_(True))
        .order_by(User.id)
    )
    return owner or ""
