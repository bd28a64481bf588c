"""Single sign-on: the identity -> user mapping (commlog.sso), SSO-only users, and the login gate in
AppTest with an `[auth]` section and a signed-in `st.user` (st.login itself cannot run in AppTest;
tests/e2e/test_sso_flow.py drives the real OIDC flow in a browser)."""

import subprocess
import sys

import pytest
from sqlalchemy import select

from commlog import auth, sso
from commlog.models import AppUser
from commlog.principal import Principal, Role
from tests.support import factories as f
from tests.support.app import PASSWORD, app, build_two_lenders, buttons, data_tables, page_text
from tests.support.factories import T0

AUTH_SECTION = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-not-used-by-apptest",
    "client_id": "commlog-test",
    "client_secret": "test-client-secret",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}


# --- the mapping ---------------------------------------------------------------------------------


@pytest.fixture
def people(engine):
    with engine.begin() as c:
        f.lender(c, "lender-a")
        ids = {
            "admin": f.user(c, "Admin@Lender-A.example", "lender_admin", "lender-a", None),  # SSO only
            "ops": f.user(c, "ops@commlog.example", "ops", None, PASSWORD),  # local + SSO
            "gone": f.user(c, "gone@lender-a.example", "lender_admin", "lender-a", None),
        }
        auth.set_disabled(c, "gone@lender-a.example", True)
    return ids


def identity(conn, **claims):
    return sso.principal_for_identity(conn, {"is_logged_in": True, **claims})


def test_verified_email_maps_to_its_user_row_with_role_and_lender(engine, people):
    with engine.connect() as c:
        p = identity(c, email="admin@lender-a.example", email_verified=True, sub="abc", iss="https://idp.example")
        lender_id = c.execute(select(AppUser.lender_id).where(AppUser.id == people["admin"])).scalar()
        ops = identity(c, email="ops@commlog.example", email_verified=True)
    assert p == Principal(user_id=people["admin"], email="admin@lender-a.example", role=Role.LENDER_ADMIN,
                          lender_id=lender_id)
    assert ops.role == Role.OPS and ops.lender_id is None and ops.user_id == people["ops"]


def test_email_match_is_case_insensitive_and_trimmed(engine, people):
    with engine.connect() as c:
        p = identity(c, email="  ADMIN@lender-a.EXAMPLE ", email_verified=True)
    assert isinstance(p, Principal) and p.user_id == people["admin"]


@pytest.mark.parametrize("flag", [False, "false", "False", None, 0, "yes"])
def test_unverified_email_is_refused(engine, people, flag):
    with engine.connect() as c:
        r = identity(c, email="admin@lender-a.example", email_verified=flag)
    assert r == sso.RefusalReason("unverified", "admin@lender-a.example")
    assert "not verified" in r.message


@pytest.mark.parametrize("flag", [True, "true", "TRUE"])
def test_verified_flag_as_bool_or_string(engine, people, flag):
    with engine.connect() as c:
        assert isinstance(identity(c, email="admin@lender-a.example", email_verified=flag), Principal)


def test_provider_without_email_verified_claim_is_trusted(engine, people):
    with engine.connect() as c:
        assert isinstance(identity(c, email="admin@lender-a.example"), Principal)


def test_unknown_identity_is_refused_with_a_clear_message(engine, people):
    with engine.connect() as c:
        r = identity(c, email="Stranger@Elsewhere.example", email_verified=True)
    assert r == sso.RefusalReason("unknown", "stranger@elsewhere.example")
    assert r.message == ("Your single sign-on identity stranger@elsewhere.example is not allowed in commlog: "
                         "ask platform ops to add you.")


def test_disabled_identity_is_refused(engine, people):
    with engine.connect() as c:
        r = identity(c, email="gone@lender-a.example", email_verified=True)
    assert r.kind == "disabled" and "not allowed in commlog" in r.message and "re-enable" in r.message


@pytest.mark.parametrize("email", [None, "", "   ", "not-an-email", 42, "x" * 330 + "@a.example"])
def test_identity_without_a_usable_email_is_refused(engine, people, email):
    with engine.connect() as c:
        r = identity(c, email=email, email_verified=True)
    assert r.kind == "no_email" and r.email is None


def test_record_login_sets_last_login(engine, people):
    with engine.begin() as c:
        sso.record_login(c, auth.load_principal(c, people["admin"]), T0)
        assert c.execute(select(AppUser.last_login_at).where(AppUser.id == people["admin"])).scalar() is not None


# --- SSO-only users and the local login ----------------------------------------------------------------


def test_sso_only_user_has_no_password_and_local_login_refuses_it(engine, people):
    with engine.begin() as c:
        stored = c.execute(select(AppUser.password_hash).where(AppUser.id == people["admin"])).scalar()
        assert stored is None
        for password in ("", "anything-at-all", "commlog-no-such-user-placeholder"):  # incl. the dummy hash's secret
            with pytest.raises(auth.AuthError) as exc:
                auth.authenticate(c, "admin@lender-a.example", password, T0)
            assert str(exc.value) in ("Email or password is not right.", "Enter your email and password.")


def test_users_cli_adds_an_sso_only_user_without_password_stdin(sqlite_url, sqlite_engine):
    with sqlite_engine.begin() as c:
        f.lender(c, "lender-a")
    added = subprocess.run(
        [sys.executable, "-m", "commlog", "--database-url", sqlite_url, "users", "add",
         "--email", "SSO@Lender-A.example", "--role", "lender_admin", "--lender", "lender-a"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert added.returncode == 0, added.stderr
    assert "single sign-on only" in added.stdout
    with sqlite_engine.begin() as c:
        row = c.execute(select(AppUser.password_hash, AppUser.role).where(AppUser.email == "sso@lender-a.example")).one()
        assert row == (None, "lender_admin")
        with pytest.raises(auth.AuthError):
            auth.authenticate(c, "sso@lender-a.example", "commlog-no-such-user-placeholder", T0)
        assert isinstance(sso.principal_for_identity(c, {"email": "sso@lender-a.example", "email_verified": True}),
                          Principal)


# --- the login gate in AppTest -------------------------------------------------------------------------


@pytest.fixture
def world(sqlite_engine, sqlite_url, monkeypatch):
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sandbox")
    w = build_two_lenders(sqlite_engine)
    with sqlite_engine.begin() as c:
        w["users"]["sso_a"] = f.user(c, "Carol@Alpha.example", "lender_admin", "lender-a", None)
        w["users"]["sso_gone"] = f.user(c, "gone@alpha.example", "lender_admin", "lender-a", None)
        auth.set_disabled(c, "gone@alpha.example", True)
    return w


def sso_app(path="app.py", user=None, **kw):
    at = app(path, **kw)
    at.secrets["auth"] = dict(AUTH_SECTION)
    if user is not None:
        at.user = user
    return at


def signed_on(email, verified=True):
    return {"is_logged_in": True, "email": email, "email_verified": verified, "name": "Someone",
            "sub": "sub-" + email, "provider": "default"}


def test_login_page_offers_single_sign_on_beside_the_local_form_when_configured(world):
    at = sso_app(user={"is_logged_in": False}).run()
    assert not at.exception
    assert buttons(at) == ["Sign in with single sign-on", "Sign in"]
    assert not data_tables(at)


def test_without_auth_section_no_sso_button_and_st_user_is_ignored(world):
    at = app()
    at.user = signed_on("carol@alpha.example")  # even a signed-in identity means nothing without [auth]
    at.run()
    assert not at.exception
    assert buttons(at) == ["Sign in"]
    assert not data_tables(at)


def test_local_login_still_works_when_sso_is_configured(world):
    at = sso_app(user={"is_logged_in": False}).run()
    at.text_input[0].input("admin@alpha.example")
    at.text_input[1].input(PASSWORD)
    at.button(key="FormSubmitter:login-Sign in").click().run()
    assert not at.exception
    assert set(at.dataframe[0].value["Subject"]) == {"Confirm your new account with Alpha Lending", "Your statement is ready"}


@pytest.mark.parametrize("path", ["app.py", "pages/log.py"])
def test_mapped_sso_identity_opens_its_lenders_log(world, sqlite_engine, path):
    at = sso_app(path, user=signed_on("CAROL@alpha.example")).run()
    assert not at.exception
    assert at.dataframe, page_text(at)
    assert set(at.dataframe[0].value["Subject"]) == {"Confirm your new account with Alpha Lending", "Your statement is ready"}
    text = page_text(at)
    assert "Bravo" not in text and "carol@alpha.example" in text
    with sqlite_engine.connect() as c:
        assert c.execute(select(AppUser.last_login_at).where(AppUser.id == world["users"]["sso_a"])).scalar()


def test_sso_lender_admin_cannot_open_the_audit_page(world):
    at = sso_app("pages/audit.py", user=signed_on("carol@alpha.example")).run()
    assert "This page is for platform ops only." in [e.value for e in at.error]


@pytest.mark.parametrize(("email", "verified", "expected"), [
    ("stranger@elsewhere.example", True,
     "Your single sign-on identity stranger@elsewhere.example is not allowed in commlog: ask platform ops to add you."),
    ("gone@alpha.example", True, "Your single sign-on identity gone@alpha.example is not allowed in commlog"),
    ("carol@alpha.example", False, "has not verified that email address"),
])
@pytest.mark.parametrize("path", ["app.py", "pages/log.py", "pages/deliverability.py"])
def test_refused_identity_gets_the_refusal_page_and_no_data(world, path, email, verified, expected):
    at = sso_app(path, user=signed_on(email, verified), params={"id": str(world["ids"]["foreign"])}).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(expected in e for e in errors), errors
    assert buttons(at) == ["Sign out"]
    assert not at.dataframe and not at.text_input
    text = page_text(at)
    assert "Alpha Lending" not in text and "Bravo" not in text


def test_refusal_page_sign_out_ends_the_sso_identity(world):
    at = sso_app(user=signed_on("stranger@elsewhere.example")).run()
    at.button(key="sso_sign_out").click().run()
    assert not at.exception
    assert at.user.get("is_logged_in") is False
    at.run()  # a browser is sent to /auth/logout and comes back: the login page
    assert buttons(at) == ["Sign in with single sign-on", "Sign in"]


def test_menu_sign_out_ends_the_sso_identity(world):
    at = sso_app(user=signed_on("carol@alpha.example")).run()
    assert at.dataframe
    at.button(key="sign_out").click().run()
    assert not at.exception
    assert at.user.get("is_logged_in") is False
    assert not data_tables(at)


def test_disabling_an_sso_user_takes_effect_on_the_next_run(world, sqlite_engine):
    at = sso_app(user=signed_on("carol@alpha.example")).run()
    assert at.dataframe
    with sqlite_engine.begin() as c:
        auth.set_disabled(c, "carol@alpha.example", True)
    at.run()
    assert not data_tables(at)
    assert any("is not allowed in commlog" in e.value for e in at.error)


def test_local_session_wins_over_the_sso_identity(world):
    at = sso_app(user=signed_on("stranger@elsewhere.example"), user_id=world["users"]["admin_a"]).run()
    assert not at.exception and at.dataframe
    assert "admin@alpha.example" in page_text(at)


def test_refusal_page_shows_the_identitys_email_as_text_not_markdown(world):
    at = sso_app(user=signed_on("[click](http://evil.example/)@x.example")).run()
    assert not at.exception
    assert any(r"\[click\]\(http://evil.example/\)@x.example" in e.value for e in at.error), [e.value for e in at.error]
