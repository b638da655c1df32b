"""Password hashing with the standard library's scrypt KDF.

Stored form: ``scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>``, so the cost can be raised later and old
hashes still verify (:func:`needs_rehash` tells when to re-hash at the next login).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

N, R, P, DKLEN = 2**15, 8, 1, 32  # 2**15: above the 2**14 minimum of current guidance
MIN_LENGTH = 8
MAX_LENGTH = 256


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=DKLEN, maxmem=64 * 1024**2)
    return "$".join(["scrypt", str(N), str(R), str(P), _b64(salt), _b64(dk)])


def verify_password(password: str, stored: str) -> bool:
    try:
        algo, n, r, p, salt, want = stored.split("$")
        if algo != "scrypt":
            return False
        dk = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p),
                            dklen=len(_unb64(want)), maxmem=64 * 1024**2)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(dk, _unb64(want))


def needs_rehash(stored: str) -> bool:
    return not stored.startswith(f"scrypt${N}${R}${P}$")


def password_problem(password: str) -> str | None:
    """Why ``password`` is not acceptable, or None."""
    if len(password) < MIN_LENGTH:
        return f"a password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"a password has at most {MAX_LENGTH} characters"
    if password.strip() != password or not password.isprintable():
        return "a password cannot start or end with spaces or contain control characters"
    return None


_DUMMY = None


def burn_time(password: str) -> None:
    """Spend the time of one verification (for unknown users, so timing does not tell)."""
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hash_password("dummy-password")
    verify_password(password, _DUMMY)


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s.encode(), validate=True)
