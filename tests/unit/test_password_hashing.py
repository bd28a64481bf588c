"""The product hashes local passwords with argon2id at RFC 9106's low-memory profile (64 MiB, three
passes, four lanes). The suite hashes at argon2's smallest cost (tests/conftest.py), so this looks
at the product in an interpreter of its own, as the app and the CLI run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from argon2 import PasswordHasher

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"

HASH_AND_CHECK = f"""
from commlog import auth
stored = auth.hash_password({PASSWORD!r})
print(stored)
print(auth._DUMMY_HASH)
"""


def test_the_app_hashes_passwords_with_argon2id_at_full_cost_and_the_hash_verifies():
    run = subprocess.run([sys.executable, "-c", HASH_AND_CHECK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    stored, dummy = run.stdout.split()
    # The unknown-address check verifies a hash of the same cost, so timing does not tell which addresses exist.
    for h in (stored, dummy):
        assert h.startswith("$argon2id$v=19$m=65536,t=3,p=4$"), h
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
