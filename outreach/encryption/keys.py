"""The data and index keys from settings, and the primitives built on them."""

from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from outreach.config import get_settings

# Hex digits kept from the HMAC: 128 bits, far beyond any collision among numbers.
INDEX_LENGTH = 32


class UndecryptableValue(RuntimeError):
    """A stored value none of the configured data keys opens (a key left out of settings)."""


@lru_cache(maxsize=8)
def _derived(secret: str, purpose: bytes) -> bytes:
    # Outside production the keys may be left unset: they are derived from the secret key
    # so that `make run` and the tests work with no configuration, and stay stable.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret.encode()
    )


def _key_material() -> tuple[tuple[str, ...], tuple[str, ...]]:
    settings = get_settings()
    data = tuple(k.get_secret_value() for k in settings.data_keys)
    index = tuple(k.get_secret_value() for k in settings.index_keys)
    secret = settings.secret_key.get_secret_value()
    if not data:
        data = (base64.urlsafe_b64encode(_derived(secret, b"outreach data key")).decode(),)
    if not index:
        index = (_derived(secret, b"outreach index key").hex(),)
    return data, index


@lru_cache(maxsize=4)
def _fernet(data_keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(key.encode()) for key in data_keys])


def _cipher() -> MultiFernet:
    return _fernet(_key_material()[0])


def _index_keys() -> tuple[bytes, ...]:
    return tuple(key.encode() for key in _key_material()[1])


def encrypt(value: str) -> str:
    """Ciphertext of `value` under the current data key (random: equal values differ)."""
    return _cipher().encrypt(value.encode()).decode("ascii")


def decrypt(token: str) -> str:
    """The plain text of a stored value, with whichever configured data key made it."""
    try:
        return _cipher().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise UndecryptableValue(
            "no key of OUTREACH_DATA_KEYS opens a stored value (a retired key removed too early?)"
        ) from exc


def reencrypt(token: str) -> str:
    """The same value under the current data key (unchanged when it already is)."""
    return _cipher().rotate(token.encode("ascii")).decode("ascii")


def _hmac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:INDEX_LENGTH]


def blind_index(value: str) -> str:
    """The keyed hash stored beside an encrypted value, under the current index key."""
    return _hmac(_index_keys()[0], value)


def blind_indexes(value: str) -> list[str]:
    """The hashes of `value` under every configured index key: what a look-up matches.

    During an index-key rotation some rows still carry the old key's hash; matching all
    of them keeps look-ups right until `outreach keys rotate` has rewritten every row.
    """
    return list(dict.fromkeys(_hmac(key, value) for key in _index_keys()))


def generate_data_key() -> str:
    """A new random data key, in the form OUTREACH_DATA_KEYS takes."""
    return Fernet.generate_key().decode("ascii")


def generate_index_key() -> str:
    """A new random index key, in the form OUTREACH_INDEX_KEYS takes."""
    return base64.urlsafe_b64encode(hashlib.sha256(Fernet.generate_key()).digest()).decode()
