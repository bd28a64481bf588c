"""Password rules (commlog.passwords): length, not the email, not a common password."""

from __future__ import annotations

import pytest

from commlog.passwords import COMMON_PASSWORDS_FILE, common_passwords, password_problem

EMAIL = "Jane.Doe@Lender-A.example"


@pytest.mark.parametrize("password", [
    "correct horse battery",  # the tests' password
    "demo-password-1",  # the demo's (seed-demo)
    "soak-password-1",  # the soak bench's
    "jane-doe-lender-a",  # names from the email, but more than them
    "Tr0ub4dor&3-extended",
])
def test_good_passwords_pass(password):
    assert password_problem(password, EMAIL) is None


@pytest.mark.parametrize("password, words", [
    ("short-pw", "at least 12 characters (it has 8)"),
    ("x" * 1025, "at most 1,024 characters"),
    ("jane.doe@lender-a.example", "must not be the email address"),
    ("JANE.DOE@LENDER-A.EXAMPLE", "must not be the email address"),
    ("Jane.Doe2024!!", "must not be the email address"),
    ("password1234", "common"),
    ("Password1234!", "common"),
    ("1qaz2wsx!!!!", "common"),  # a listed one that starts with a digit, padded
    ("qwertyuiop12", "common"),
    ("!!iloveyou!!", "common"),
    ("qwertyqwerty", "common"),
    ("abcabcabcabc", "common"),
    ("aaaaaaaaaaaaaaaa", "common"),
    ("123456789012", "common"),
    ("            ", "common"),
])
def test_bad_passwords_are_refused_with_a_clear_reason(password, words):
    problem = password_problem(password, EMAIL)
    assert problem is not None and words in problem
    assert password not in problem  # the message never repeats the password


def test_the_bundled_list_is_small_named_and_lower_case():
    text = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8")
    assert "Source:" in text and "SecLists" in text
    words = common_passwords()
    assert 900 <= len(words) <= 1100
    assert {"password", "qwerty", "iloveyou", "trustno1"} <= words
    assert all(w == w.lower() and w.strip() == w for w in words)
