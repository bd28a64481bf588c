"""Demo lenders and recipient domains."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoLender:
    slug: str
    name: str
    staff_domain: str
    brand: str  # how subjects name the lender


LENDERS: tuple[DemoLender, ...] = (
    DemoLender("harbor-credit", "Harbor Credit Union", "harborcredit.com", "Harbor Credit"),
    DemoLender("northwind-lending", "Northwind Lending", "northwindlending.com", "Northwind Lending"),
    DemoLender("summit-mortgage", "Summit Mortgage Co.", "summitmortgage.com", "Summit Mortgage"),
    DemoLender("pine-auto-finance", "Pine Auto Finance", "pineautofinance.com", "Pine Auto Finance"),
    DemoLender("lakeshore-loans", "Lakeshore Consumer Loans", "lakeshoreloans.com", "Lakeshore Loans"),
    DemoLender("redwood-student-lending", "Redwood Student Lending", "redwoodstudent.org", "Redwood Student Lending"),
    DemoLender("keystone-home-loans", "Keystone Home Loans", "keystonehomeloans.com", "Keystone Home Loans"),
    DemoLender("bluebird-microfinance", "Bluebird Microfinance", "bluebirdmf.org", "Bluebird"),
    DemoLender("cedar-valley-bank", "Cedar Valley Bank", "cedarvalleybank.com", "Cedar Valley Bank"),
    DemoLender("meridian-capital", "Meridian Capital Partners", "meridiancapital.com", "Meridian Capital"),
    DemoLender("prairie-farm-credit", "Prairie Farm Credit", "prairiefarmcredit.com", "Prairie Farm Credit"),
    DemoLender("coastal-equipment-finance", "Coastal Equipment Finance", "coastalequip.com", "Coastal Equipment Finance"),
)

BOUNCE_PROBLEM_INDEX = 1  # northwind-lending: a bad borrower list import
POSTMARK_INDEX = 2  # summit-mortgage sends through Postmark


def lender_catalog(n: int) -> list[DemoLender]:
    out = list(LENDERS[:n])
    i = 1
    while len(out) < n:
        base = LENDERS[(i - 1) % len(LENDERS)]
        k = (i - 1) // len(LENDERS) + 2
        out.append(
            DemoLender(f"{base.slug}-{k}", f"{base.name} {k}", base.staff_domain.replace(".", f"{k}.", 1), f"{base.brand} {k}")
        )
        i += 1
    return out


# Borrower domains and weights (percent). Consumer mailboxes dominate.
BORROWER_DOMAINS: tuple[tuple[str, float], ...] = (
    ("gmail.com", 39.0),
    ("googlemail.com", 0.3),
    ("outlook.com", 7.5),
    ("hotmail.com", 8.0),
    ("live.com", 2.0),
    ("msn.com", 0.8),
    ("hotmail.co.uk", 0.4),
    ("yahoo.com", 11.0),
    ("ymail.com", 0.5),
    ("aol.com", 3.0),
    ("yahoo.co.uk", 0.3),
    ("icloud.com", 7.0),
    ("me.com", 1.0),
    ("mac.com", 0.3),
    ("comcast.net", 3.0),
    ("att.net", 1.8),
    ("sbcglobal.net", 1.2),
    ("verizon.net", 1.0),
    ("cox.net", 0.9),
    ("charter.net", 0.5),
    ("bellsouth.net", 0.6),
    ("earthlink.net", 0.3),
    ("protonmail.com", 0.9),
    ("btinternet.com", 0.2),
    ("acme-logistics.com", 0.7),
    ("stlukeshealth.org", 0.6),
    ("brightpath-edu.org", 0.5),
    ("contoso-engineering.com", 0.4),
    ("fabrikam.com", 0.4),
    ("statefarm-agents.com", 0.3),
    ("cityofspringfield.gov", 0.3),
    ("riverside-schools.org", 0.4),
)

# Misspellings people type, with the domain they meant (address-level typos; all undeliverable).
TYPOS: tuple[str, ...] = (
    "gmial.com",
    "gmal.com",
    "gamil.com",
    "gmaill.com",
    "gmail.co",
    "gmail.con",
    "gnail.com",
    "hotmial.com",
    "hotmal.com",
    "hotmail.con",
    "outlok.com",
    "yaho.com",
    "yahooo.com",
    "yahoo.cm",
    "icoud.com",
    "aol.co",
    "comcast.ne",
)
TYPO_SHARE = 0.006  # of ordinary borrower addresses
