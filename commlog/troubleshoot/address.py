"""Address checks that need no network: is this address written correctly, is its domain a likely
typo of a common mailbox domain, and is it an address nobody reads?

    check_address(address) -> AddressCheck
    suggest_domain(domain) -> str | None

Pure, deterministic and fast (no DNS, no SMTP). Every answer is worded for a lender admin.

* Syntax is practical, not full RFC 5322: exactly one @; the part before the @ is 1-64 characters,
  no spaces, no leading, trailing or double dot; the domain is 1-253 characters with at least one
  dot, made of letters (non-ASCII too, for internationalized domains), digits and hyphens, no part
  starting or ending with a hyphen, and an ending of at least two letters. The first problem found
  is named in plain words.
* Typos: a domain is compared with `COMMON_DOMAINS`, the consumer mailbox domains borrowers use,
  split at the last dot into a name ("gmail", "hotmail.co") and an ending ("com", "uk"). It is a
  likely typo of one of them when the ending is off by at most `ENDING_EDITS` and the name by at
  most the name's allowance (`name_edits_allowed`), with at most `max(1, allowance)` edits in all,
  and no other common domain is as close. A domain without a dot is a typo when it is a common
  name with the ending left off ("gmail") or a common domain with the dot left out ("gmailcom").
  Edits are Damerau-Levenshtein (optimal string alignment): a missing, extra or wrong letter, or
  two neighbouring letters swapped, is one edit. A domain in `KNOWN_REAL_DOMAINS` is never
  "corrected".
* Role and placeholder addresses: local parts nobody reads (noreply@), test local parts (test@),
  what people type when there is no address (none@), and placeholder domains (example.com, *.test,
  test.com). Ordinary role mailboxes at a company (info@, admin@, support@) are real and not flagged.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# --- Syntax limits (RFC 5321 sizes) -------------------------------------------------------------
MAX_LOCAL_LENGTH = 64
MAX_DOMAIN_LENGTH = 253
MAX_LABEL_LENGTH = 63
MIN_ENDING_LETTERS = 2
# Characters that cannot appear unquoted before the @ (RFC 5322 "specials"; quoted local parts
# are legal but practically never a borrower's address).
LOCAL_PART_FORBIDDEN = frozenset('()<>[]:;@\\,"')
PUNYCODE_PREFIX = "xn--"  # an internationalized ending written in ASCII, e.g. xn--p1ai (.рф)

# --- Typos of common mailbox domains ------------------------------------------------------------
# The consumer mailbox domains borrowers use: the only domains ever suggested.
COMMON_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "hotmail.co.uk",
    "live.com",
    "msn.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "rocketmail.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "comcast.net",
    "att.net",
    "sbcglobal.net",
    "verizon.net",
    "cox.net",
    "charter.net",
    "bellsouth.net",
    "earthlink.net",
    "optonline.net",
    "btinternet.com",
    "protonmail.com",
    "proton.me",
)
# Real domains close to a common one, which must never be suggested away (the common domains
# themselves are never corrected either: see KNOWN_REAL_DOMAINS).
OTHER_REAL_DOMAINS: frozenset[str] = frozenset(
    {
        # Other mailbox providers.
        "mail.com",
        "email.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "aim.com",
        "hey.com",
        "fastmail.com",
        "fastmail.fm",
        "zoho.com",
        "yandex.com",
        "mail.ru",
        "pm.me",
        "protonmail.ch",
        "tutanota.com",
        # Regional domains of the big providers.
        "hotmail.fr",
        "hotmail.de",
        "hotmail.it",
        "hotmail.es",
        "hotmail.ca",
        "live.ca",
        "live.co.uk",
        "live.fr",
        "outlook.fr",
        "outlook.de",
        "yahoo.ca",
        "yahoo.fr",
        "yahoo.de",
        "yahoo.co.in",
        "yahoo.co.jp",
        "yahoo.com.au",
        "aol.co.uk",
        # Companies one letter away from a provider name, and the providers' own company domains.
        "cloud.com",
        "wahoo.com",
        "att.com",
        "verizon.com",
        "comcast.com",
        "cox.com",
    }
)
KNOWN_REAL_DOMAINS: frozenset[str] = frozenset(COMMON_DOMAINS) | OTHER_REAL_DOMAINS

ENDING_EDITS = 1  # gmail.co, gmail.con, yahoo.cm, comcast.ne: the ending off by one edit
# Names shorter than this are only matched exactly (with a mistyped ending): one letter off a short
# name is usually another real domain (live.com -> life.com, cox.net -> fox.com, me.com -> ge.com).
MIN_FUZZY_NAME_LENGTH = 5
SHORT_NAME_EDITS = 1  # gmail, yahoo, ymail, icloud, proton: one edit
LONG_NAME_LENGTH = 7
LONG_NAME_EDITS = 2  # hotmail, outlook, comcast ...: two edits, but only if the first letter is right
# (horizon.net is not verizon.net: two changes including the first letter is another word).

# --- Role and placeholder addresses -------------------------------------------------------------
NOBODY_READS_LOCAL_PARTS: frozenset[str] = frozenset(
    {
        "noreply",
        "no-reply",
        "no_reply",
        "no.reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        "do.not.reply",
        "mailer-daemon",
        "postmaster",
        "bounce",
        "bounces",
    }
)
TEST_LOCAL_PARTS: frozenset[str] = frozenset({"test", "testing", "tester", "example", "sample"})
NO_ADDRESS_LOCAL_PARTS: frozenset[str] = frozenset(
    {"null", "none", "nobody", "noemail", "no-email", "no_email", "nomail", "no-mail"}
)
# Reserved names (RFC 2606, RFC 6761): nothing there ever receives mail.
RESERVED_DOMAINS: frozenset[str] = frozenset({"example.com", "example.org", "example.net"})
RESERVED_ENDINGS: frozenset[str] = frozenset({"example", "test", "invalid", "localhost"})
# Registered domains people type when they have no address.
FAKE_DOMAINS: frozenset[str] = frozenset({"test.com", "noemail.com", "nomail.com", "none.com"})


@dataclass(frozen=True)
class AddressCheck:
    """What the address checks found for one email address (all text in plain words)."""

    address: str  # as given (stripped)
    valid_syntax: bool
    syntax_problem: str | None  # what is wrong with how it is written, e.g. "it has no @"
    suggestion: str | None  # the likely intended address, e.g. "owen.hargrove@gmail.com"
    suggestion_reason: str | None  # e.g. "gmial.com looks like a typo of gmail.com"
    role_or_placeholder: str | None  # e.g. "noreply@ is an address nobody reads"

    @property
    def findings(self) -> list[str]:
        """The checks that found something, as sentences: syntax, then typo, then role/placeholder."""
        out: list[str] = []
        if self.syntax_problem:
            out.append(f"This is not a valid email address: {self.syntax_problem}.")
        if self.suggestion:
            out.append(f"{self.suggestion_reason}. Did you mean {self.suggestion}?")
        if self.role_or_placeholder:
            out.append(f"{self.role_or_placeholder}.")
        return out

    @property
    def looks_wrong(self) -> bool:
        """True when the address is invalid, has a likely typo, or nobody (real) would read it."""
        return not self.valid_syntax or self.suggestion is not None or self.role_or_placeholder is not None


def check_address(address: str) -> AddressCheck:
    """Check one email address without the network (case-insensitive).

    A typo suggestion is made only when the part before the @ is sound, so that the suggested
    address can work; the domain itself may be broken ("gmail.c0m" -> gmail.com)."""
    text = (address or "").strip()
    problem = _syntax_problem(text)
    suggestion: str | None = None
    reason: str | None = None
    role: str | None = None
    if text.count("@") == 1:
        local, domain = text.split("@")
        if _local_problem(local) is None:
            intended = suggest_domain(domain)
            if intended:
                suggestion = f"{local}@{intended}"
                reason = f"{domain.strip().lower()} looks like a typo of {intended}"
        role = _placeholder_domain(domain) or _role_local_part(local)
    return AddressCheck(
        address=text,
        valid_syntax=problem is None,
        syntax_problem=problem,
        suggestion=suggestion,
        suggestion_reason=reason,
        role_or_placeholder=role,
    )


def suggest_domain(domain: str) -> str | None:
    """The common mailbox domain `domain` is likely a typo of, or None (also for any real domain)."""
    typed = (domain or "").strip().lower()
    if typed in KNOWN_REAL_DOMAINS or len(typed) > MAX_DOMAIN_LENGTH:
        return None
    name, dot, ending = typed.rpartition(".")
    if not dot:
        # No dot at all: "gmail" (the ending left off) or "gmailcom" (the dot left out).
        missing = [c for c in COMMON_DOMAINS if typed in (c.rpartition(".")[0], c.replace(".", ""))]
        return missing[0] if len(missing) == 1 else None
    if not name:
        return None
    matches: list[tuple[int, str]] = []
    for common in COMMON_DOMAINS:
        edits = _typo_edits(name, ending, common)
        if edits is not None:
            matches.append((edits, common))
    if not matches:
        return None
    matches.sort()
    if len(matches) > 1 and matches[1][0] == matches[0][0]:
        return None  # as close to two common domains (xmail.com: gmail or ymail?): no guess
    return matches[0][1]


def name_edits_allowed(name: str) -> int:
    """How many edits the name of a common domain ("gmail", "hotmail.co") may have in a typo."""
    brand = name.split(".", 1)[0]
    if len(brand) < MIN_FUZZY_NAME_LENGTH:
        return 0
    return SHORT_NAME_EDITS if len(brand) < LONG_NAME_LENGTH else LONG_NAME_EDITS


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): a swap of neighbours is one edit."""
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        before, previous = previous, current
    return previous[-1]


def _typo_edits(name: str, ending: str, common: str) -> int | None:
    """Edits from a typed domain (name + ending) to `common`, or None when it is not a likely typo."""
    common_name, _, common_ending = common.rpartition(".")
    allowed = name_edits_allowed(common_name)
    if abs(len(name) - len(common_name)) > allowed or abs(len(ending) - len(common_ending)) > ENDING_EDITS:
        return None
    ending_edits = edit_distance(ending, common_ending)
    if ending_edits > ENDING_EDITS:
        return None
    name_edits = edit_distance(name, common_name)
    if name_edits > allowed or ending_edits + name_edits > max(1, allowed):
        return None
    if name_edits >= LONG_NAME_EDITS and name[0] != common_name[0]:
        return None
    return ending_edits + name_edits


# --- Syntax --------------------------------------------------------------------------------------


def _syntax_problem(text: str) -> str | None:
    """The first thing wrong with how the address is written, in plain words, or None."""
    if not text:
        return "it is empty"
    ats = text.count("@")
    if ats == 0:
        return "it has no @"
    if ats > 1:
        return "it has more than one @"
    local, domain = text.split("@")
    return _hidden_character_problem(text) or _local_problem(local) or _domain_problem(domain)


def _hidden_character_problem(text: str) -> str | None:
    """A space, or an invisible character (often pasted from a document), anywhere in `text`."""
    if any(ch.isspace() for ch in text):
        return "it contains a space"
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf"):
            return f"it contains an invisible character (U+{ord(ch):04X})"
    return None


def _local_problem(local: str) -> str | None:
    """What is wrong with the part before the @, or None."""
    hidden = _hidden_character_problem(local)
    if hidden:
        return hidden
    if not local:
        return "nothing comes before the @"
    if len(local) > MAX_LOCAL_LENGTH:
        return f"the part before the @ is longer than {MAX_LOCAL_LENGTH} characters"
    if local.startswith("."):
        return "the part before the @ starts with a dot"
    if local.endswith("."):
        return "the part before the @ ends with a dot"
    if ".." in local:
        return "the part before the @ has two dots in a row"
    for ch in local:
        if ch in LOCAL_PART_FORBIDDEN:
            return f'the part before the @ contains "{ch}", which an email address cannot have'
    return None


def _domain_character_ok(ch: str) -> bool:
    """ASCII letters, digits and hyphens, or non-ASCII letters, marks and digits (internationalized)."""
    if ch.isascii():
        return ch.isalnum() or ch == "-"
    return unicodedata.category(ch)[0] in ("L", "M", "N")


def _domain_problem(domain: str) -> str | None:
    """What is wrong with the part after the @, or None."""
    if not domain:
        return "nothing comes after the @"
    if len(domain) > MAX_DOMAIN_LENGTH:
        return f"the domain is longer than {MAX_DOMAIN_LENGTH} characters"
    for ch in domain:
        if ch != "." and not _domain_character_ok(ch):
            return f'the domain contains "{ch}", which a domain cannot have'
    if "." not in domain:
        return "the domain has no dot"
    if domain.startswith("."):
        return "the domain starts with a dot"
    if domain.endswith("."):
        return "the domain ends with a dot"
    if ".." in domain:
        return "the domain has two dots in a row"
    labels = domain.split(".")
    for label in labels:
        if len(label) > MAX_LABEL_LENGTH:
            return f"a part of the domain is longer than {MAX_LABEL_LENGTH} characters"
        if label.startswith("-"):
            return f'a part of the domain ("{label}") starts with a hyphen'
        if label.endswith("-"):
            return f'a part of the domain ("{label}") ends with a hyphen'
    ending = labels[-1]
    if ending.lower().startswith(PUNYCODE_PREFIX):
        return None
    if not all(ch.isalpha() or unicodedata.category(ch)[0] == "M" for ch in ending):
        return f'the domain ending "{ending}" must be letters only'
    if len(ending) < MIN_ENDING_LETTERS:
        return f'the domain ending "{ending}" is too short: it needs at least {MIN_ENDING_LETTERS} letters'
    return None


# --- Role and placeholder addresses -------------------------------------------------------------


def _placeholder_domain(domain: str) -> str | None:
    """Why the domain is a placeholder, or None."""
    d = domain.strip().lower()
    ending = d.rpartition(".")[2]
    if d in RESERVED_DOMAINS or any(d.endswith("." + r) for r in RESERVED_DOMAINS) or ending in RESERVED_ENDINGS:
        return f"{d} is a placeholder domain that never receives mail"
    if d in FAKE_DOMAINS:
        return f"{d} is a placeholder domain, not the person's mailbox"
    return None


def _role_local_part(local: str) -> str | None:
    """Why the part before the @ is not a person's mailbox, or None (info@, support@ are fine)."""
    base = local.strip().lower().split("+", 1)[0]
    base = base.rstrip("0123456789") or base  # test123@ is test@
    if base in NOBODY_READS_LOCAL_PARTS:
        return f"{local}@ is an address nobody reads"
    if base in TEST_LOCAL_PARTS:
        return f"{local}@ is a test address, not a person's"
    if base in NO_ADDRESS_LOCAL_PARTS:
        return f"{local}@ is what people type when there is no address; nobody reads it"
    return None
