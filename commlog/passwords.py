"""The rules a new local password must meet (NIST SP 800-63B style: length and a blocklist, no
composition rules):

- at least 12 characters (and at most 1,024: argon2's cost grows with the input);
- not the user's email address, nor its part before the @ (case-insensitive, digits and
  punctuation around it ignored: "Admin@x.example1!" and "admin2024" are refused for admin@x.example);
- not a common password: commlog/common_passwords.txt (the 1,000 most common of a public list,
  source in its header), compared lower-case as typed, with digits and punctuation stripped from
  either end or both ("Password1234!" is "password"), and as a repetition ("qwertyqwerty", "abcabcabcabc", or any
  unit of four characters or fewer repeated).

Passwords under 12 characters never reach the list check: the list matters for what padding and
repetition make long. No Streamlit, no database here.
"""

from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

MIN_LENGTH = 12
MAX_LENGTH = 1024
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "common_passwords.txt"
_PADDING = string.digits + string.punctuation + string.whitespace


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def _core(text: str) -> str:
    """Lower-case, digits, punctuation and spaces stripped from both ends."""
    return text.lower().strip(_PADDING)


def _repeated_unit(text: str) -> str | None:
    """The shortest unit `text` is a repetition of (two or more times), or None."""
    for size in range(1, len(text) // 2 + 1):
        if len(text) % size == 0 and text[:size] * (len(text) // size) == text:
            return text[:size]
    return None


def _is_common(password: str) -> bool:
    common = common_passwords()
    lowered = password.lower()
    candidates = {lowered, lowered.rstrip(_PADDING), lowered.lstrip(_PADDING), lowered.strip(_PADDING)}
    if not lowered.strip(_PADDING) or candidates & common:
        return True
    for candidate in candidates:
        unit = _repeated_unit(candidate)
        if unit is not None and (len(unit) <= 4 or unit in common or _core(unit) in common):
            return True
    return False


def _is_the_email(password: str, email: str) -> bool:
    email = email.strip().lower()
    local = email.split("@", 1)[0]
    return bool(email) and _core(password) in {email, local, _core(email), _core(local)}


def password_problem(password: str, email: str) -> str | None:
    """Why `password` cannot be the password of `email`, in words fit to show; None when it can."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters (it has {len(password)})"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH:,} characters"
    if _is_the_email(password, email):
        return "the password must not be the email address or its part before the @"
    if _is_common(password):
        return ("the password is a common one (or a common one with digits or symbols added, or repeated); "
                "choose another, e.g. three or four unrelated words")
    return None
