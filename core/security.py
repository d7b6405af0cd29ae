"""Password hashing (argon2id), the password policy and signed links."""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

COMMON_PASSWORDS_FILE = Path(__file__).parent / "data" / "common-passwords.txt"


def _hasher() -> PasswordHasher:
    config = current_app.config
    return PasswordHasher(
        time_cost=config["ARGON2_TIME_COST"],
        memory_cost=config["ARGON2_MEMORY_COST"],
        parallelism=config["ARGON2_PARALLELISM"],
        type=Type.ID,
    )


def hash_password(password: str) -> str:
    """An argon2id hash of `password` with the configured parameters."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches; never raises on a malformed or unusable hash."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with other parameters than the configured ones."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def unusable_password() -> str:
    """A value no password verifies against (for erased accounts)."""
    return "!" + secrets.token_hex(16)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The shipped list of common passwords, lower-cased."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def password_problem(password: str, *, email: str = "", name: str = "") -> Any:
    """Why a new password is refused, or None when it is acceptable."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        return _l("La contraseña debe tener al menos %(n)s caracteres.", n=minimum)
    if len(password) > 256:
        return _l("La contraseña no puede tener más de 256 caracteres.")
    lowered = password.lower()
    if lowered in common_passwords():
        return _l("Esa contraseña es demasiado común; elige otra más difícil de adivinar.")
    local_part = email.split("@")[0].lower()
    if local_part and len(local_part) >= 4 and lowered == local_part:
        return _l("La contraseña no puede ser igual a tu correo.")
    if len(set(password)) < 4:
        return _l("La contraseña repite demasiado los mismos caracteres.")
    return None


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=salt)


def sign(payload: Any, *, purpose: str) -> str:
    """A URL-safe signed, timestamped token for `purpose`."""
    return _serializer(purpose).dumps(payload)


class BadLink(Exception):
    """A signed link that is forged, for another purpose, or expired."""

    def __init__(self, expired: bool):
        super().__init__("expired" if expired else "invalid")
        self.expired = expired


def unsign(token: str, *, purpose: str, max_age: int) -> Any:
    """The payload of a token made by `sign`, or BadLink."""
    try:
        return _serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise BadLink(expired=True) from exc
    except BadSignature as exc:
        raise BadLink(expired=False) from exc


def fingerprint(value: str) -> str:
    """A short digest that changes whenever `value` changes (single-use links)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def token_digest(token: str) -> str:
    """SHA-256 of a bearer token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()
