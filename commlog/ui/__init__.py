"""Streamlit helpers shared by the pages: engine, login guard, formatting. Streamlit is imported
only under commlog.ui, so the domain stays importable without it."""

import logging


class _NoRuntimeYet(logging.Filter):
    """A server imports the pages' components before Streamlit's runtime exists (launcher.py, and
    `commlog.server_heap`), and each `st.cache_data` it decorates then logs "No runtime found, using
    MemoryCacheStorageManager": 16 warnings at every start, saying the caches are not the
    server's. They are: that is Streamlit's check when a function is decorated, and a cached
    function takes the runtime's storage each time it is called. Drop that one message; every other
    stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("No runtime found")


_cache_log = logging.getLogger("streamlit.runtime.caching.cache_data_api")
if not any(isinstance(f, _NoRuntimeYet) for f in _cache_log.filters):
    _cache_log.addFilter(_NoRuntimeYet())
