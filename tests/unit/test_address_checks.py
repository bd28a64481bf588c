"""Address checks without the network: the sentences a lender admin reads in "Why didn't they get it?"."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commlog.demo.outcomes import TYPO_DOMAINS
from commlog.troubleshoot import address
from commlog.troubleshoot.address import (
    COMMON_DOMAINS,
    KNOWN_REAL_DOMAINS,
    check_address,
    edit_distance,
    suggest_domain,
)

# What each demo typo domain was meant to be.
INTENDED = {
    "gmial.com": "gmail.com",
    "gmal.com": "gmail.com",
    "gamil.com": "gmail.com",
    "gmaill.com": "gmail.com",
    "gmail.co": "gmail.com",
    "gmail.con": "gmail.com",
    "gnail.com": "gmail.com",
    "hotmial.com": "hotmail.com",
    "hotmal.com": "hotmail.com",
    "hotmail.con": "hotmail.com",
    "outlok.com": "outlook.com",
    "outloo.com": "outlook.com",
    "yaho.com": "yahoo.com",
    "yahooo.com": "yahoo.com",
    "yahoo.cm": "yahoo.com",
    "icoud.com": "icloud.com",
    "iclod.com": "icloud.com",
    "aol.co": "aol.com",
    "comcast.ne": "comcast.net",
}

# Real domains (other providers, regional domains, companies, words one letter off a provider).
NEVER_SUGGEST = [
    "mail.com",
    "gmx.com",
    "gmx.de",
    "live.com",
    "me.com",
    "ymail.com",
    "aim.com",
    "hey.com",
    "fastmail.com",
    "yahoo.co.uk",
    "hotmail.co.uk",
    "harborcredit.com",
    "acme-logistics.com",
    "email.com",
    "cloud.com",
    "wahoo.com",
    "yahoo.co.in",
    "yahoo.co.jp",
    "hotmail.co.za",
    "hotmail.fr",
    "yahoo.ca",
    "protonmail.ch",
    "att.com",
    "verizon.com",
    "comcast.com",
    "fox.com",
    "box.com",
    "ge.com",
    "ms.com",
    "max.com",
    "life.com",
    "horizon.net",
    "podcast.net",
]


# --- Typos ---------------------------------------------------------------------------------------


def test_every_demo_typo_domain_has_an_expected_suggestion():
    assert set(INTENDED) == set(TYPO_DOMAINS)


@pytest.mark.parametrize("typo", sorted(TYPO_DOMAINS))
def test_demo_typo_domain_gets_the_intended_domain(typo):
    assert suggest_domain(typo) == INTENDED[typo]


@pytest.mark.parametrize("typo", sorted(TYPO_DOMAINS))
def test_demo_typo_address_reads_as_a_typo_with_the_intended_address(typo):
    check = check_address(f"owen.hargrove@{typo}")
    assert check.suggestion == f"owen.hargrove@{INTENDED[typo]}"
    assert check.findings == [
        f"{typo} looks like a typo of {INTENDED[typo]}. Did you mean owen.hargrove@{INTENDED[typo]}?"
    ]
    assert check.looks_wrong


@pytest.mark.parametrize("domain", NEVER_SUGGEST)
def test_real_domain_is_never_corrected(domain):
    assert suggest_domain(domain) is None
    assert check_address(f"owen@{domain}").findings == []


@pytest.mark.parametrize("domain", sorted(KNOWN_REAL_DOMAINS))
def test_known_real_domain_is_never_corrected(domain):
    assert suggest_domain(domain) is None
    assert suggest_domain(domain.upper()) is None


def test_known_real_list_holds_the_providers_that_must_not_be_corrected():
    for domain in ("mail.com", "gmx.com", "gmx.de", "aim.com", "hey.com", "fastmail.com", "yahoo.co.uk", "cloud.com"):
        assert domain in KNOWN_REAL_DOMAINS


def test_known_real_list_is_what_keeps_a_near_neighbour(monkeypatch):
    # cloud.com and wahoo.com are one letter off icloud.com and yahoo.com: only the list keeps them.
    monkeypatch.setattr(address, "KNOWN_REAL_DOMAINS", frozenset(COMMON_DOMAINS))
    assert suggest_domain("cloud.com") == "icloud.com"
    assert suggest_domain("wahoo.com") == "yahoo.com"


@pytest.mark.parametrize(
    ("typed", "intended"),
    [
        ("icloud.co", "icloud.com"),
        ("hotmail.comm", "hotmail.com"),
        ("outlook.om", "outlook.com"),
        ("gmail.cmo", "gmail.com"),
        ("att.nte", "att.net"),
        ("cox.ne", "cox.net"),
        ("proton.m", "proton.me"),
        ("hotmail.co", "hotmail.com"),
        ("hotmail.co.k", "hotmail.co.uk"),
    ],
)
def test_mistyped_ending_on_a_known_provider(typed, intended):
    assert suggest_domain(typed) == intended


def test_a_swap_of_two_letters_is_one_edit():
    assert edit_distance("gamil", "gmail") == 1
    assert edit_distance("gmail", "gmail") == 0
    assert edit_distance("gml", "gmail") == 2


def test_long_provider_names_allow_two_edits():
    assert suggest_domain("hotmial.con") == "hotmail.com"
    assert suggest_domain("comcsat.ne") == "comcast.net"
    assert suggest_domain("verizn.nt") == "verizon.net"


def test_short_provider_names_allow_one_edit_only():
    assert suggest_domain("gmial.con") is None
    assert suggest_domain("gmil.co") is None


def test_two_edits_that_change_the_first_letter_are_another_word():
    assert suggest_domain("horizon.net") is None
    assert suggest_domain("verizon.net") is None


def test_names_shorter_than_five_letters_only_match_a_mistyped_ending():
    assert suggest_domain("aol.co") == "aol.com"
    assert suggest_domain("live.con") == "live.com"
    assert suggest_domain("aok.com") is None
    assert suggest_domain("lve.com") is None


def test_no_guess_when_two_common_domains_are_as_close():
    assert suggest_domain("xmail.com") is None  # gmail.com or ymail.com?
    assert suggest_domain("hmail.com") is None


def test_domain_without_its_ending_or_its_dot():
    assert suggest_domain("gmail") == "gmail.com"
    assert suggest_domain("gmailcom") == "gmail.com"
    assert suggest_domain("hotmailcouk") == "hotmail.co.uk"
    assert suggest_domain("harborcredit") is None
    check = check_address("owen@gmail")
    assert check.findings == [
        "This is not a valid email address: the domain has no dot.",
        "gmail looks like a typo of gmail.com. Did you mean owen@gmail.com?",
    ]


def test_suggestion_keeps_the_local_part_as_given_and_lower_cases_the_domain():
    check = check_address("  Owen.Hargrove@GMIAL.Com ")
    assert check.address == "Owen.Hargrove@GMIAL.Com"
    assert check.suggestion == "Owen.Hargrove@gmail.com"
    assert check.suggestion_reason == "gmial.com looks like a typo of gmail.com"


def test_no_suggestion_when_the_part_before_the_at_is_broken():
    check = check_address("owen hargrove@gmial.com")
    assert check.suggestion is None
    assert check.findings == ["This is not a valid email address: it contains a space."]


# --- Syntax --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("owen.hargrove.gmail.com", "it has no @"),
        ("owen@hargrove@gmail.com", "it has more than one @"),
        ("owen hargrove@gmail.com", "it contains a space"),
        ("owen@gmail .com", "it contains a space"),
        ("owen\u200b@gmail.com", "it contains an invisible character (U+200B)"),
        ("@gmail.com", "nothing comes before the @"),
        ("o" * 65 + "@gmail.com", "the part before the @ is longer than 64 characters"),
        (".owen@gmail.com", "the part before the @ starts with a dot"),
        ("owen.@gmail.com", "the part before the @ ends with a dot"),
        ("owen..hargrove@gmail.com", "the part before the @ has two dots in a row"),
        ("owen,hargrove@gmail.com", 'the part before the @ contains ",", which an email address cannot have'),
        ("<owen@gmail.com>", 'the part before the @ contains "<", which an email address cannot have'),
        ("owen@", "nothing comes after the @"),
        ("owen@" + "a" * 250 + ".com", "the domain is longer than 253 characters"),
        ("owen@gmail_com.com", 'the domain contains "_", which a domain cannot have'),
        ("owen@gmail,com", 'the domain contains ",", which a domain cannot have'),
        ("owen@localhost", "the domain has no dot"),
        ("owen@.gmail.com", "the domain starts with a dot"),
        ("owen@gmail.com.", "the domain ends with a dot"),
        ("owen@gmail..com", "the domain has two dots in a row"),
        ("owen@" + "a" * 64 + ".com", "a part of the domain is longer than 63 characters"),
        ("owen@-harbor.com", 'a part of the domain ("-harbor") starts with a hyphen'),
        ("owen@harbor-.com", 'a part of the domain ("harbor-") ends with a hyphen'),
        ("owen@gmail.c", 'the domain ending "c" is too short: it needs at least 2 letters'),
        ("owen@gmail.c0m", 'the domain ending "c0m" must be letters only'),
        ("owen@10.0.0.1", 'the domain ending "1" must be letters only'),
    ],
)
def test_syntax_problem_in_words(typed, problem):
    check = check_address(typed)
    assert not check.valid_syntax
    assert check.syntax_problem == problem
    assert check.findings[0] == f"This is not a valid email address: {problem}."
    assert check.looks_wrong


@pytest.mark.parametrize(
    "typed",
    [
        "owen.hargrove@gmail.com",
        "o'brien+loans@harborcredit.com",
        "a@b.co",
        "o" * 64 + "@gmail.com",
        "owen@mail.acme-logistics.com",
        "ü.müller@bücher.de",
        "owen@例え.jp",
        "owen@пример.рф",
        "owen@example.xn--p1ai",
    ],
)
def test_valid_ordinary_address_has_no_findings(typed):
    check = check_address(typed)
    assert check.valid_syntax
    assert check.syntax_problem is None
    assert check.findings == []
    assert not check.looks_wrong


# --- Role and placeholder addresses -------------------------------------------------------------


@pytest.mark.parametrize(
    "local", ["noreply", "no-reply", "donotreply", "do-not-reply", "mailer-daemon", "postmaster", "NoReply"]
)
def test_address_nobody_reads(local):
    check = check_address(f"{local}@harborcredit.com")
    assert check.role_or_placeholder == f"{local}@ is an address nobody reads"
    assert check.findings == [f"{local}@ is an address nobody reads."]
    assert check.looks_wrong


@pytest.mark.parametrize("local", ["test", "testing", "example", "Test123", "test+loans"])
def test_test_address(local):
    check = check_address(f"{local}@gmail.com")
    assert check.findings == [f"{local}@ is a test address, not a person's."]
    assert check.looks_wrong


@pytest.mark.parametrize("local", ["null", "none", "nobody", "noemail"])
def test_what_people_type_when_there_is_no_address(local):
    check = check_address(f"{local}@gmail.com")
    assert check.findings == [f"{local}@ is what people type when there is no address; nobody reads it."]


@pytest.mark.parametrize(
    "domain", ["example.com", "example.org", "example.net", "mail.example.com", "harbor.example", "x.test", "x.invalid"]
)
def test_reserved_placeholder_domain(domain):
    check = check_address(f"owen@{domain}")
    assert check.findings == [f"{domain} is a placeholder domain that never receives mail."]
    assert check.looks_wrong


def test_localhost_is_invalid_and_a_placeholder():
    assert check_address("owen@localhost").findings == [
        "This is not a valid email address: the domain has no dot.",
        "localhost is a placeholder domain that never receives mail.",
    ]


def test_common_fake_domain():
    assert check_address("owen@Test.com").findings == ["test.com is a placeholder domain, not the person's mailbox."]


def test_placeholder_domain_is_named_before_a_test_local_part():
    check = check_address("test@example.com")
    assert check.role_or_placeholder == "example.com is a placeholder domain that never receives mail"


@pytest.mark.parametrize("local", ["info", "admin", "support", "loans", "contest", "testimonials", "nonet"])
def test_ordinary_role_mailbox_at_a_company_is_not_flagged(local):
    check = check_address(f"{local}@harborcredit.com")
    assert check.role_or_placeholder is None
    assert not check.looks_wrong


# --- Order and odd input -------------------------------------------------------------------------


def test_findings_order_syntax_then_typo_then_role():
    check = check_address("noreply@gmail.c0m")
    assert check.findings == [
        'This is not a valid email address: the domain ending "c0m" must be letters only.',
        "gmail.c0m looks like a typo of gmail.com. Did you mean noreply@gmail.com?",
        "noreply@ is an address nobody reads.",
    ]


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("a" * 10_000, "it has no @"),
        ("a" * 5_000 + "@" + "b" * 4_995 + ".com", "the part before the @ is longer than 64 characters"),
        ("owen@" + "b" * 9_995 + ".com", "the domain is longer than 253 characters"),
        ("owen@" + "gmial.com" * 1_111, "the domain is longer than 253 characters"),
    ],
)
def test_huge_input(typed, problem):
    check = check_address(typed)
    assert check.syntax_problem == problem
    assert check.suggestion is None


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        ("owen＠gmail.com", "it has no @"),  # full-width at sign
        ("owen@gmail.com\u202e", "it contains an invisible character (U+202E)"),  # right-to-left override
        ("owen@\ud800.com", 'the domain contains "\ud800", which a domain cannot have'),  # lone surrogate
        ("owen@gm😀il.com", 'the domain contains "😀", which a domain cannot have'),
        ("owen\x00@gmail.com", "it contains an invisible character (U+0000)"),
        ("owen@gmail.com\u00a0x", "it contains a space"),  # no-break space
    ],
)
def test_odd_unicode(typed, problem):
    assert check_address(typed).syntax_problem == problem


def test_turkish_dotted_capital_i_is_handled():
    check = check_address("OWEN@GMAİL.COM")
    assert check.suggestion == "OWEN@gmail.com"


# --- Properties ----------------------------------------------------------------------------------


def _mistyped(domain: str, position: int, kind: int, letter: str) -> str:
    """`domain` with one edit at `position`: drop, double, swap or replace a character."""
    i = position % len(domain)
    if kind == 0:
        return domain[:i] + domain[i + 1 :]
    if kind == 1:
        return domain[:i] + domain[i] + domain[i:]
    if kind == 2 and i + 1 < len(domain):
        return domain[:i] + domain[i + 1] + domain[i] + domain[i + 2 :]
    return domain[:i] + letter + domain[i + 1 :]


DOMAINS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(sorted(KNOWN_REAL_DOMAINS)),
    st.builds(
        _mistyped,
        st.sampled_from(COMMON_DOMAINS),
        st.integers(0, 20),
        st.integers(0, 3),
        st.sampled_from("abcdefghijklmnopqrstuvwxyz.-Aé"),
    ),
)


@given(DOMAINS)
def test_suggest_domain_only_ever_names_another_common_domain(domain):
    suggestion = suggest_domain(domain)
    if suggestion is not None:
        assert suggestion in COMMON_DOMAINS
        assert suggestion != domain
        assert suggestion != domain.strip().lower()


@given(st.one_of(st.text(), st.emails(), st.builds(lambda local, d: f"{local}@{d}", st.text(max_size=20), DOMAINS)))
def test_check_address_never_raises_and_is_consistent(typed):
    check = check_address(typed)
    assert check.valid_syntax == (check.syntax_problem is None)
    assert check.looks_wrong == bool(check.findings)
    if check.suggestion is not None:
        assert check.suggestion.rpartition("@")[2] in COMMON_DOMAINS
