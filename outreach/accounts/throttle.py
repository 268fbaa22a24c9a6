"""Login rate limiting, shared by the console and the API through Redis.

Failures are counted per email and per client IP in a fixed window
(`OUTREACH_LOGIN_FAILURE_WINDOW_SECONDS`, starting at the first failure). Once
either count reaches `OUTREACH_LOGIN_MAX_FAILURES`, logins from that email or IP
are refused until the window ends, even with the right password.

- `check_login_allowed(email=, ip=)` -> seconds to wait, or None: call it first.
- `record_login_failure(email=, ip=)`: after a wrong password or unknown email.
- `record_login_success(email=)`: after a good login; clears the email's count (the
  IP's count stays, so one valid account cannot be used to reset a guessing run).
- `refusal_message(seconds)`: the French sentence to show with the 429.

Keys hold a digest of the email, never the address itself.
"""

from __future__ import annotations

import hashlib
import math

from outreach.config import get_settings
from outreach.redis import get_redis

_PREFIX = "outreach:login:fail:"


def _email_key(email: str) -> str:
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
    return f"{_PREFIX}email:{digest}"


def _ip_key(ip: str) -> str:
    return f"{_PREFIX}ip:{ip or 'unknown'}"


def check_login_allowed(*, email: str, ip: str) -> int | None:
    """Seconds before this email or IP may try again, or None when a login may be tried."""
    limit = get_settings().login_max_failures
    redis = get_redis()
    wait = 0
    for key in (_email_key(email), _ip_key(ip)):
        count = redis.get(key)
        if count is not None and int(count) >= limit:
            ttl = int(redis.ttl(key))
            # -1 would be a key without expiry (never written by us): refuse for a window.
            wait = max(wait, ttl if ttl > 0 else get_settings().login_failure_window_seconds)
    return wait or None


def record_login_failure(*, email: str, ip: str) -> None:
    """Count a failed login against the email and the client IP."""
    window = get_settings().login_failure_window_seconds
    pipe = get_redis().pipeline()
    for key in (_email_key(email), _ip_key(ip)):
        # The window starts at the first failure: later failures do not extend it.
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
    pipe.execute()


def record_login_success(*, email: str) -> None:
    """Forget the email's failures after a good login."""
    get_redis().delete(_email_key(email))


def refusal_message(seconds: int) -> str:
    """What a refused login is told, in French."""
    minutes = max(1, math.ceil(seconds / 60))
    unit = "minute" if minutes == 1 else "minutes"
    return f"trop de tentatives de connexion: réessayez dans {minutes} {unit}"
