"""Serve the app, the provider webhooks and the page's downloads from one server (Streamlit's ASGI `st.App`).

`streamlit run launcher.py` (what bin/start-demo does) or `uvicorn launcher:app`. The webhook routes
authenticate themselves and never touch a session: `POST /webhooks/sendgrid` (signed by SendGrid)
and `POST /webhooks/postmark` (HTTP basic auth, the user name and password in Postmark's webhook URL).
`GET /export/<token>` serves a download a page minted, once, to the browser that minted it
(commlog.export_route); `BrowserCookieMiddleware` gives each browser the cookie that binds it.
Every response carries the security headers (commlog.security_headers).
"""

from functools import lru_cache

import streamlit as st
from starlette.middleware import Middleware

from commlog import config, export_route, server_heap
from commlog.browser_cookie import BrowserCookieMiddleware
from commlog.db import make_engine
from commlog.security_headers import SecurityHeaders
from commlog.ui.boundary import on_script_error
from commlog.ui.deliverability.tabs import warm_up_charts
from commlog.webhooks import postmark_receiver
from commlog.webhooks.app import routes


@lru_cache(maxsize=1)
def _engine():
    return make_engine(config.database_url())


# Deliverability's charts are loaded and their first one built when the server starts, not by the
# first person to open Deliverability on it, who used to wait about 0.7 s for that (Altair's imports,
# its first chart: commlog.ui.deliverability.tabs.warm_up_charts).
warm_up_charts()

# Every HTTP response (pages, Streamlit's own routes, the webhooks) gets the security headers:
# Content-Security-Policy, Referrer-Policy, nosniff, and HSTS over HTTPS (commlog.security_headers);
# every browser gets the `commlog_browser` cookie that binds its downloads (commlog.browser_cookie).
middleware = [Middleware(SecurityHeaders), Middleware(BrowserCookieMiddleware)]

# on_script_error: the last net behind every page's own error boundary (commlog.ui.boundary).
app = st.App(
    "app.py",
    routes=[*routes(_engine), *postmark_receiver.routes(_engine), *export_route.routes(_engine)],
    middleware=middleware,
    on_script_error=on_script_error,
)

# What the start made (the imports, the pages' modules, the first chart) lives as long as the server:
# set aside from Python's garbage collector, whose full collections used to walk all of it and hold
# every session on this server for 136–383 ms each time (commlog.server_heap).
server_heap.settle()
