"""Fixtures several AppTest modules share: a fake SendGrid on loopback and the two-lender world
checked against it; Streamlit's caches emptied around a test."""

from __future__ import annotations

import sys
import types

import pytest
import streamlit as st

from commlog.providers.fake_server import FakeProvider
from tests.support.app import build_two_lenders


@pytest.fixture
def fake():
    """A SendGrid-compatible server on loopback that answers for any message (auto)."""
    with FakeProvider(auto=True) as server:
        yield server


@pytest.fixture
def sendgrid_two_lenders(sqlite_engine, sqlite_url, monkeypatch, fake):
    """Lender A and Lender B (tests.support.app.build_two_lenders), checked against `fake`."""
    monkeypatch.setenv("COMMLOG_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("COMMLOG_PROVIDER", "sendgrid")
    monkeypatch.setenv("SENDGRID_API_KEY", fake.api_key)
    monkeypatch.setenv("COMMLOG_SENDGRID_BASE_URL", fake.url)
    return build_two_lenders(sqlite_engine)


@pytest.fixture
def clean_caches(monkeypatch):
    """Streamlit's data and resource caches empty before and after the test (the pages cache their
    reads per database); the app's first-start bootstrap stubbed if it cannot be imported."""
    st.cache_data.clear()
    st.cache_resource.clear()
    try:  # the app's first-start bootstrap; the test database is migrated by its fixture
        import commlog.bootstrap  # noqa: F401 - imported only to learn whether it can be
    except ImportError:
        stub = types.ModuleType("commlog.bootstrap")
        stub.ensure_database = lambda url: "migrated by the test"
        monkeypatch.setitem(sys.modules, "commlog.bootstrap", stub)
    yield
    st.cache_data.clear()
    st.cache_resource.clear()
