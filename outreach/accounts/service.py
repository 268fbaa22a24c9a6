"""Staff accounts: creation, password login and API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session, select

from outreach.accounts import throttle
from outreach.accounts.models import ApiToken, Role, StaffUser
from outreach.accounts.security import hash_password, new_token, token_digest, verify_password
from outreach.audit import service as audit
from outreach.timeutil import utcnow

MIN_PASSWORD_LENGTH = 10


class AccountError(ValueError):
    """A request about an account that cannot be carried out (message in French)."""


def check_password_rules(password: str) -> None:
    """Refuse a password that is too weak to protect displaced people's data."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"mot de passe trop court: au moins {MIN_PASSWORD_LENGTH} caractères")
    if password.isdigit() or password.isalpha():
        raise AccountError("mot de passe trop simple: mélangez lettres et chiffres")


def get_by_email(session: Session, *, email: str) -> StaffUser | None:
    """The account with this email (case-insensitive), if any."""
    return session.exec(select(StaffUser).where(StaffUser.email == email.strip().lower())).first()


def create_user(
    session: Session, *, email: str, name: str, role: Role, password: str, language: str = "fr"
) -> StaffUser:
    """Add a staff account after checking the password rules and that the email is free."""
    email = email.strip().lower()
    if "@" not in email:
        raise AccountError("adresse e-mail invalide")
    if get_by_email(session, email=email) is not None:
        raise AccountError(f"un compte existe déjà pour {email}")
    check_password_rules(password)
    user = StaffUser(
        email=email,
        name=name.strip() or email,
        role=Role(role).value,
        password_hash=hash_password(password),
        language=language,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, *, email: str, password: str) -> StaffUser | None:
    """The active account for these credentials, or None."""
    user = get_by_email(session, email=email)
    if user is None or not user.active:
        # Hash anyway so a missing account takes as long as a wrong password.
        hash_password(password)
        return None
    if not verify_password(password, user.password_hash):
        return None
    user.last_login_at = utcnow()
    session.add(user)
    return user


TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def issue_token(
    session: Session, *, user: StaffUser, name: str, ttl: timedelta | None = None
) -> str:
    """Create an API token for `user`; the plain token is returned once and never stored."""
    assert user.id is not None, "flush the user before issuing a token"
    token = new_token()
    session.add(
        ApiToken(
            user_id=user.id,
            name=name,
            token_hash=token_digest(token),
            expires_at=utcnow() + ttl if ttl else None,
        )
    )
    session.flush()
    return token


def user_for_token(session: Session, *, token: str) -> StaffUser | None:
    """The active user holding this unexpired, unrevoked token, or None."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_digest(token))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    user = session.get(StaffUser, row.user_id)
    if user is None or not user.active:
        return None
    now = utcnow()
    # Recorded to the minute: enough to spot a forgotten or leaked token, without a
    # write on every call of a busy integration.
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RESOLUTION:
        row.last_used_at = now
        session.add(row)
    return user


def list_tokens(session: Session, *, user: StaffUser) -> list[ApiToken]:
    """A user's API tokens, newest first (revoked and expired ones included)."""
    return list(
        session.exec(
            select(ApiToken)
            .where(ApiToken.user_id == user.id)
            .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())  # type: ignore[attr-defined,union-attr]
        )
    )


def get_user(session: Session, *, user_id: int) -> StaffUser | None:
    """The account with this id, if any."""
    return session.get(StaffUser, user_id)


def require_by_email(session: Session, *, email: str) -> StaffUser:
    """The account with this email, or an `AccountError` naming it."""
    user = get_by_email(session, email=email)
    if user is None:
        raise AccountError(f"aucun compte pour {email.strip().lower()}")
    return user


def set_password(session: Session, *, user: StaffUser, password: str) -> None:
    """Replace a user's password (rules checked) and revoke their API tokens."""
    check_password_rules(password)
    user.password_hash = hash_password(password)
    session.add(user)
    _revoke_all_tokens(session, user=user)


def set_role(session: Session, *, user: StaffUser, role: Role) -> None:
    """Give a user another role."""
    user.role = Role(role).value
    session.add(user)


def deactivate(session: Session, *, user: StaffUser) -> None:
    """Lock a user out: login, tokens and console sessions all stop working."""
    user.active = False
    session.add(user)
    _revoke_all_tokens(session, user=user)


def _revoke_all_tokens(session: Session, *, user: StaffUser) -> None:
    now = utcnow()
    for row in session.exec(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
    ):
        row.revoked_at = now
        session.add(row)


def revoke_token(session: Session, *, token: str) -> bool:
    """Revoke one API token; False when it was unknown or already revoked."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_digest(token))).first()
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    session.add(row)
    return True


def list_users(session: Session) -> list[StaffUser]:
    """Every staff account, by email."""
    return list(session.exec(select(StaffUser).order_by(StaffUser.email)))


@dataclass
class LoginOutcome:
    """What a login attempt gave: a user, or why not (French message, retry delay)."""

    user: StaffUser | None
    message: str = ""
    retry_after: int | None = None


def login(session: Session, *, email: str, password: str, ip: str) -> LoginOutcome:
    """Check a password login against the rate limit, and audit it either way."""
    email = email.strip().lower()[:254]
    wait = throttle.check_login_allowed(email=email, ip=ip)
    if wait is not None:
        audit.record(
            session, action="auth.login_throttled", actor=email, ip=ip, detail={"retry_after": wait}
        )
        return LoginOutcome(None, throttle.refusal_message(wait), wait)
    user = authenticate(session, email=email, password=password)
    if user is None:
        throttle.record_login_failure(email=email, ip=ip)
        audit.record(session, action="auth.login_failed", actor=email, ip=ip)
        return LoginOutcome(None, "e-mail ou mot de passe incorrect")
    throttle.record_login_success(email=email)
    audit.record(
        session, action="auth.login", user=user, ip=ip, object_type="staff_user", object_id=user.id
    )
    return LoginOutcome(user)
