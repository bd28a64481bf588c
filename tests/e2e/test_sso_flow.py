"""Single sign-on end to end: a real `streamlit run` server with an `[auth]` section pointing at a
local OIDC provider the test starts (tests/e2e/oidc_provider.py), driven through Streamlit's own
st.login route, the provider's redirect, the code exchange, the signed id_token and the identity
cookie, in Debian's chromium. Then commlog's mapping: a mapped identity sees its lender's log, an
unknown, disabled or unverified one gets the refusal page; Sign out ends the identity."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys

import pytest
from playwright.sync_api import expect

from tests.e2e.oidc_provider import OIDCProvider
from tests.e2e.servers import ROOT, StreamlitServer, clean_env, parse_logins
from tests.e2e.support import data_tables, main_text, menu, open_app, screenshot, sign_out, wait_for_run

pytestmark = pytest.mark.e2e

SEED = ["--lenders", "2", "--borrowers", "40", "--messages", "400", "--days", "10", "--seed", "11", "--no-progress"]


class SSOWorld:
    def __init__(self, server: StreamlitServer, provider: OIDCProvider, password: str, admin: str,
                 lender_slug: str, lender_name: str, other_lender: str) -> None:
        self.server, self.provider, self.password, self.admin = server, provider, password, admin
        self.lender_slug, self.lender_name, self.other_lender = lender_slug, lender_name, other_lender
        self.sso_user = f"carol.sso@{lender_slug}.example"
        self.disabled_user = f"gone.sso@{lender_slug}.example"


def _cli(env, url, *args):
    run = subprocess.run([sys.executable, "-m", "commlog", "--database-url", url, *args], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    if run.returncode != 0:
        pytest.fail(f"commlog {' '.join(args)} failed:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return run.stdout


@pytest.fixture(scope="module")
def sso(browser, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sso")
    url = f"sqlite:///{tmp / 'sso.sqlite3'}"
    env = clean_env()
    env.update(COMMLOG_DATABASE_URL=url, COMMLOG_PROVIDER="sandbox", PYTHONUNBUFFERED="1")
    password, logins = parse_logins(_cli(env, url, "seed-demo", *SEED))
    admin, (_, slug) = next((e, v) for e, v in logins.items() if v[0] == "lender_admin")
    with sqlite3.connect(tmp / "sso.sqlite3") as c:
        names = dict(c.execute("SELECT slug, name FROM lender"))
    other = next(n for s, n in names.items() if s != slug)

    provider = OIDCProvider().start()
    server = StreamlitServer(env, tmp / "streamlit.log")
    provider.redirect_uri = f"http://127.0.0.1:{server.port}/oauth2callback"
    secrets_file = tmp / "secrets.toml"
    secrets_file.write_text(
        "[auth]\n"
        f'redirect_uri = "{provider.redirect_uri}"\n'
        'cookie_secret = "e2e-cookie-secret-0123456789abcdef0123456789"\n'
        f'client_id = "{provider.client_id}"\n'
        f'client_secret = "{provider.client_secret}"\n'
        f'server_metadata_url = "{provider.metadata_url}"\n'
    )
    server.env = {**env, "STREAMLIT_SECRETS_FILES": str(secrets_file)}
    world = SSOWorld(server, provider, password, admin, slug, names[slug], other)
    _cli(env, url, "users", "add", "--email", world.sso_user, "--role", "lender_admin", "--lender", slug)
    _cli(env, url, "users", "add", "--email", world.disabled_user, "--role", "lender_admin", "--lender", slug)
    _cli(env, url, "users", "disable", "--email", world.disabled_user)
    server.start()
    try:
        yield world
    finally:
        server.stop()
        provider.stop()
        log = server.log_text()
        assert world.provider.client_secret not in log, "the client secret reached the server log"


SSO_BUTTON = "Sign in with single sign-on"


def sign_on(page, world: SSOWorld, claims: dict) -> None:
    """Open the app logged out and go through the provider as the identity `claims`."""
    world.provider.next_identity = claims
    open_app(page, world.server.url("/"))
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    page.get_by_role("button", name=SSO_BUTTON).click()
    # st.login -> /auth/login -> provider /authorize -> /oauth2callback -> / (with the identity cookie)
    page.wait_for_url(re.compile(rf"^{re.escape(world.server.base_url)}/(log)?(\?.*)?$"))
    page.locator("[data-testid='stAppViewContainer']").wait_for()
    expect(page.get_by_role("button", name=SSO_BUTTON)).to_have_count(0)
    wait_for_run(page)


def test_mapped_identity_signs_on_sees_its_lenders_log_and_signs_out(sso, page):
    before = (len(sso.provider.authorize_requests), sso.provider.token_requests)
    sign_on(page, sso, {"email": sso.sso_user.upper(), "email_verified": True, "name": "Carol SSO"})
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    expect(menu(page)).to_contain_text(sso.sso_user)
    expect(page.get_by_test_id("stMain")).to_contain_text(sso.lender_name)
    assert sso.other_lender not in main_text(page)
    # The real flow ran: one authorization request with PKCE S256 and a nonce, one code exchange.
    auth_req = sso.provider.authorize_requests[before[0]]
    assert auth_req["code_challenge_method"] == "S256" and auth_req["nonce"] and auth_req["state"]
    assert sso.provider.token_requests == before[1] + 1
    screenshot(page, "sso-signed-in")

    page.reload()  # the identity cookie survives a reload (a new Streamlit session)
    page.locator("[data-testid='stAppViewContainer']").wait_for()
    wait_for_run(page)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)

    with page.expect_request(re.compile(r"/auth/logout$")):  # Streamlit's logout route clears the cookie
        sign_out(page)
    expect(page.get_by_role("button", name=SSO_BUTTON)).to_be_visible()
    wait_for_run(page)
    expect(data_tables(page)).to_have_count(0)
    page.reload()  # the cookie is gone: still signed out
    page.locator("[data-testid='stAppViewContainer']").wait_for()
    wait_for_run(page)
    expect(page.get_by_role("button", name=SSO_BUTTON)).to_be_visible()
    expect(data_tables(page)).to_have_count(0)


@pytest.mark.parametrize(("who", "verified", "expected"), [
    ("stranger@elsewhere.example", True,
     "Your single sign-on identity stranger@elsewhere.example is not allowed in commlog: ask platform ops to add you."),
    ("disabled", True, "is not allowed in commlog: its account is disabled"),
    ("sso", False, "has not verified that email address"),
])
def test_unknown_disabled_or_unverified_identity_is_refused(sso, page, who, verified, expected):
    email = {"disabled": sso.disabled_user, "sso": sso.sso_user}.get(who, who)
    sign_on(page, sso, {"email": email, "email_verified": verified})
    expect(page.get_by_test_id("stMain")).to_contain_text(expected)
    expect(data_tables(page)).to_have_count(0)
    assert sso.lender_name not in main_text(page) and sso.other_lender not in main_text(page)
    if who == "stranger@elsewhere.example":
        screenshot(page, "sso-refused")
    with page.expect_request(re.compile(r"/auth/logout$")):
        page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name=SSO_BUTTON)).to_be_visible()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()


def test_local_login_still_works_beside_single_sign_on(sso, page):
    asked = len(sso.provider.authorize_requests)
    open_app(page, sso.server.url("/"))
    expect(page.get_by_role("button", name=SSO_BUTTON)).to_be_visible()
    screenshot(page, "sso-login")
    page.get_by_role("textbox", name="Email", exact=True).fill(sso.admin)
    page.get_by_role("textbox", name="Password", exact=True).fill(sso.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(menu(page)).to_contain_text(sso.admin)
    wait_for_run(page)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(1)
    assert len(sso.provider.authorize_requests) == asked  # the local login never talks to the provider
