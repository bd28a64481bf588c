"""SendGrid Signed Event Webhook: ECDSA P-256 / SHA-256 over `timestamp_header + raw_body`.

Checked on the raw bytes, before any JSON parsing. The public key is SendGrid's "verification key":
base64 DER SubjectPublicKeyInfo without PEM framing (Settings -> Mail Settings -> Event Webhook ->
Signed Event Webhook, or `GET /v3/user/webhooks/event/settings/signed`).

Failures raise `SignatureError` whose message is safe to log: it never contains the signature, the
key or the body.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    load_der_public_key,
    load_pem_public_key,
)

from commlog.settings import DEFAULT_WEBHOOK_MAX_AGE_SECONDS

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

DEFAULT_MAX_AGE_SECONDS = DEFAULT_WEBHOOK_MAX_AGE_SECONDS
_MAX_SIGNATURE_B64 = 512  # a DER ECDSA P-256 signature is at most 72 bytes (~96 base64 chars)
_MAX_TIMESTAMP_CHARS = 20


class SignatureError(Exception):
    """The request is not provably from SendGrid (missing, malformed, wrong or stale signature)."""


class StaleTimestamp(SignatureError):
    """A correctly signed request whose timestamp is too far from now (a replay, or a clock off)."""


class PublicKeyError(ValueError):
    """The configured public key cannot be loaded."""


def load_public_key(public_key_b64: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key: base64 DER SubjectPublicKeyInfo. A PEM block is tolerated too."""
    text = (public_key_b64 or "").strip()
    if not text:
        raise PublicKeyError("empty public key")
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(base64.b64decode("".join(text.split()), validate=True))
    except (ValueError, binascii.Error, UnsupportedAlgorithm) as exc:
        raise PublicKeyError(f"not a base64 DER public key ({type(exc).__name__})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PublicKeyError("not an ECDSA P-256 public key")
    return key


def parse_timestamp(value: str | None) -> int:
    if value is None or not value.strip():
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    value = value.strip()
    if len(value) > _MAX_TIMESTAMP_CHARS or not value.isascii() or not value.lstrip("-").isdigit():
        raise SignatureError(f"malformed {TIMESTAMP_HEADER} header")
    return int(value)


def check_freshness(timestamp: int, now: datetime, max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS) -> None:
    """Refuse timestamps further than `max_age_seconds` from now, in either direction (clock skew)."""
    if max_age_seconds <= 0:
        return
    skew = abs(now.timestamp() - timestamp)
    if skew > max_age_seconds:
        raise StaleTimestamp(f"stale timestamp ({int(skew)} s from now, limit {max_age_seconds} s)")


def verify_signature(
    key: ec.EllipticCurvePublicKey,
    signature_b64: str | None,
    timestamp_header: str | None,
    raw_body: bytes,
    now: datetime,
    max_age_seconds: int = DEFAULT_MAX_AGE_SECONDS,
) -> int:
    """Verify one webhook request; returns the signed timestamp. Raises SignatureError."""
    ts = parse_timestamp(timestamp_header)
    if signature_b64 is None or not signature_b64.strip():
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    sig_text = signature_b64.strip()
    if len(sig_text) > _MAX_SIGNATURE_B64:
        raise SignatureError("malformed signature")
    try:
        signature = base64.b64decode(sig_text, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("malformed signature (not base64)") from None
    try:
        # The header's exact bytes are what SendGrid signed, not a re-rendered integer.
        key.verify(signature, timestamp_header.strip().encode() + raw_body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignatureError("signature does not match") from None
    # Freshness after the signature: a forged timestamp cannot get past the check above.
    check_freshness(ts, now, max_age_seconds)
    return ts


def sign_for_tests(private_key: ec.EllipticCurvePrivateKey, timestamp: str, raw_body: bytes) -> str:
    """What SendGrid does: base64 DER ECDSA signature over timestamp + body (tests and the bench)."""
    return base64.b64encode(private_key.sign(timestamp.encode() + raw_body, ec.ECDSA(hashes.SHA256()))).decode()


def public_key_b64(private_key: ec.EllipticCurvePrivateKey) -> str:
    """The base64 DER SubjectPublicKeyInfo of a key pair, as SendGrid shows its verification key."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der = private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()

