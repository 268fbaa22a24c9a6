"""Password hashing (argon2) and API-token digests."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher


@lru_cache
def _hasher() -> PasswordHash:
    return PasswordHash((Argon2Hasher(),))


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return _hasher().hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    """True when `password` matches `password_hash`."""
    return _hasher().verify(password, password_hash)


def new_token() -> str:
    """A fresh random API token, shown once to its owner."""
    return "otr_" + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored for a token: a random 256-bit token needs no slow hash."""
    return hashlib.sha256(token.encode()).hexdigest()
