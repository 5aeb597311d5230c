"""API keys ``hw_<prefix>_<secret>``: the prefix finds the row; only the secret's hash is kept."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass

_ALPHABET = string.ascii_letters + string.digits
PREFIX_LENGTH = 12
SECRET_LENGTH = 40  # ~238 bits: a fast hash is safe, no key stretching needed


@dataclass(frozen=True)
class ParsedKey:
    prefix: str
    secret: str


@dataclass(frozen=True)
class NewKey:
    plaintext: str
    prefix: str
    key_hash: bytes


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def hash_secret(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def generate() -> NewKey:
    prefix, secret = _random(PREFIX_LENGTH), _random(SECRET_LENGTH)
    return NewKey(f"hw_{prefix}_{secret}", prefix, hash_secret(secret))


def parse(token: str) -> ParsedKey | None:
    scheme, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != "hw" or len(prefix) != PREFIX_LENGTH or len(secret) != SECRET_LENGTH:
        return None
    if not (prefix.isalnum() and secret.isalnum() and prefix.isascii() and secret.isascii()):
        return None
    return ParsedKey(prefix, secret)


def matches(secret: str, stored_hash: bytes) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
