"""Recipient domains: normalization and mailbox-provider family (deliverability reference,
"Mailbox-provider families"). Used by the demo seeder, exports and deliverability charts.

Families: google · microsoft (consumer: outlook.com, hotmail.*, live.*, msn.com) · yahoo (Yahoo and
AOL) · apple · other (everything else: corporate domains, ISPs, and Microsoft 365 / Google
Workspace tenants, which can only be told apart by MX lookup, never done here).
"""

from __future__ import annotations

from functools import lru_cache

GOOGLE = "google"
MICROSOFT = "microsoft"
YAHOO = "yahoo"
APPLE = "apple"
OTHER = "other"

FAMILIES: tuple[str, ...] = (GOOGLE, MICROSOFT, YAHOO, APPLE, OTHER)
FAMILY_LABELS = {
    GOOGLE: "Google (Gmail)",
    MICROSOFT: "Microsoft (Outlook, Hotmail, Live)",
    YAHOO: "Yahoo / AOL",
    APPLE: "Apple (iCloud)",
    OTHER: "Other (corporate, ISPs)",
}

_EXACT = {
    "gmail.com": GOOGLE,
    "googlemail.com": GOOGLE,
    "outlook.com": MICROSOFT,
    "msn.com": MICROSOFT,
    "ymail.com": YAHOO,
    "rocketmail.com": YAHOO,
    "aol.com": YAHOO,
    "icloud.com": APPLE,
    "me.com": APPLE,
    "mac.com": APPLE,
}
# First label of the domain followed by any public suffix: hotmail.co.uk, live.fr, yahoo.co.jp ...
_PREFIX = {"hotmail": MICROSOFT, "live": MICROSOFT, "outlook": MICROSOFT, "yahoo": YAHOO}


@lru_cache(maxsize=4096)
def provider_family(domain: str) -> str:
    """google | microsoft | yahoo | apple | other, for a recipient domain (or a whole address)."""
    d = (domain or "").strip().lower().rstrip(".")
    if "@" in d:
        d = d.rpartition("@")[2]
    family = _EXACT.get(d)
    if family:
        return family
    first, dot, rest = d.partition(".")
    # hotmail.com, hotmail.co.uk, live.com.au, yahoo.fr: the brand label with a short public suffix.
    if dot and first in _PREFIX and rest and all(len(p) <= 3 for p in rest.split(".")) and rest.count(".") <= 1:
        return _PREFIX[first]
    return OTHER
