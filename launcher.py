"""Serve the app and the SendGrid Event Webhook from one server (Streamlit's ASGI `st.App`).

`streamlit run launcher.py` (what bin/start-demo does) or `uvicorn launcher:app`. The webhook route
`POST /webhooks/sendgrid` authenticates itself (signed by SendGrid); it never touches a session.
"""

from functools import lru_cache

import streamlit as st

from commlog import config
from commlog.db import make_engine
from commlog.ui.boundary import on_script_error
from commlog.webhooks.app import routes


@lru_cache(maxsize=1)
def _engine():
    return make_engine(config.database_url())


# on_script_error: the last net behind every page's own error boundary (commlog.ui.boundary).
app = st.App("app.py", routes=routes(_engine), on_script_error=on_script_error)
