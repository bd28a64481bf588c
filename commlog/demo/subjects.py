"""Demo email types: who receives them, whose log they belong to, and real-looking subjects.

Log membership follows the portal's help page: emails tied to the lender account (staff password
resets, borrower account confirmations, lender notices) belong to the lender's log
(log_account_id NULL); emails from a borrower's own account activity (their password reset, notices
on their loan) belong to that borrower's log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]


@dataclass(frozen=True)
class EmailType:
    name: str
    audience: str  # staff | borrower
    borrower_log: bool  # True: the recipient borrower's own log; False: the lender's log
    weight: float  # share of ordinary (non-confirmation) messages


# account_confirmation is generated per new borrower, not by weight.
ACCOUNT_CONFIRMATION = EmailType("account_confirmation", "borrower", False, 0.0)

TYPES: tuple[EmailType, ...] = (
    EmailType("password_reset", "staff", False, 0.012),
    EmailType("staff_invitation", "staff", False, 0.003),
    EmailType("pipeline_summary", "staff", False, 0.02),
    EmailType("lender_notice", "borrower", False, 0.11),
    EmailType("password_reset", "borrower", True, 0.10),
    EmailType("verification_code", "borrower", True, 0.12),
    EmailType("loan_status_update", "borrower", True, 0.12),
    EmailType("payment_reminder", "borrower", True, 0.21),
    EmailType("payment_received", "borrower", True, 0.14),
    EmailType("document_request", "borrower", True, 0.07),
    EmailType("statement_ready", "borrower", True, 0.09),
    EmailType("email_change", "borrower", True, 0.005),
)

_DOCS = ("proof of income", "a copy of your driver's license", "your latest pay stub", "two recent bank statements",
         "proof of address", "your signed loan agreement", "your vehicle title", "a voided check")
_NOTICES = (
    "Important update to our privacy notice",
    "Changes to our customer service hours",
    "Scheduled maintenance on {day}",
    "Our new borrower portal is live",
    "Protect yourself from phishing: how {brand} will contact you",
    "Updated terms and conditions",
    "Holiday closure notice",
)


def _amount(rng) -> str:
    return f"${rng.randrange(45, 3200)}.{rng.randrange(100):02d}"


def _loan(rng) -> str:
    return f"LN-{rng.randrange(100000, 999999)}"


def subject(name: str, audience: str, brand: str, rng, sent_at) -> str:
    """A real-looking subject for an email of this type, sent at `sent_at`."""
    month = sent_at.month
    if name == "account_confirmation":
        return (f"Confirm your new account with {brand}", f"Please confirm your email address for {brand}",
                f"Welcome to {brand}: confirm your account")[rng.randrange(3) if rng.random() < 0.3 else 0]
    if name == "password_reset":
        return f"Reset your {brand} portal password" if audience == "staff" else f"Reset your {brand} password"
    if name == "staff_invitation":
        return f"You've been invited to the {brand} lender portal"
    if name == "pipeline_summary":
        return f"Daily pipeline summary: {rng.randrange(2, 60)} new applications, {rng.randrange(0, 15)} awaiting documents"
    if name == "lender_notice":
        text = _NOTICES[rng.randrange(len(_NOTICES))]
        when = sent_at + timedelta(days=rng.randrange(3, 12))
        return text.format(brand=brand, day=f"{_MONTHS[when.month - 1][:3]} {when.day}")
    if name == "verification_code":
        return f"Your {brand} verification code"
    if name == "loan_status_update":
        r = rng.randrange(5)
        loan = _loan(rng)
        return (
            f"Update on your loan application {loan}",
            f"Your loan application {loan} has been approved",
            f"Your loan {loan} has been funded",
            f"We need more information about application {loan}",
            f"Your loan application {loan} is under review",
        )[r]
    if name == "payment_reminder":
        due = sent_at + timedelta(days=rng.randrange(2, 11))
        return f"Payment reminder: {_amount(rng)} due {_MONTHS[due.month - 1][:3]} {due.day}"
    if name == "payment_received":
        return f"We received your payment of {_amount(rng)}"
    if name == "document_request":
        return f"Action needed: please upload {_DOCS[rng.randrange(len(_DOCS))]}"
    if name == "statement_ready":
        return f"Your {_MONTHS[(month - 2) % 12]} statement is ready"
    if name == "email_change":
        return f"Confirm your new email address for {brand}"
    return f"A message from {brand}"


# A mailer release stored these subjects MIME-encoded for a few days (seed.py places the episode in
# the last week): subjects that start with '=', which a spreadsheet would run as a formula.
MIME_ENCODED_TYPES = frozenset({"loan_status_update", "payment_reminder"})


def mime_encoded(text: str) -> str:
    """The subject as an undecoded RFC 2047 encoded word: =?UTF-8?Q?Your_loan_...?="""
    return "=?UTF-8?Q?" + text.replace("=", "=3D").replace("?", "=3F").replace("_", "=5F").replace(" ", "_") + "?="


SEND_ERRORS = (
    "SMTP connect to relay timed out",
    "Provider API rejected request: 400 invalid from address",
    "Provider API error: 503 Service Unavailable (retries exhausted)",
    "Template rendering failed: missing variable 'loan_number'",
    "Provider API rejected request: 413 payload too large (attachment)",
    "TLS handshake with provider API failed: certificate verify failed",
)
POSTMARK_INACTIVE = (
    "Provider API rejected request: 406 You tried to send to recipient(s) that have been marked as inactive. "
    "Found inactive addresses: {email}. Inactive recipients are ones that have generated a hard bounce or a spam complaint."
)
