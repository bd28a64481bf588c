"""commlog: the Communication Log of the lending portal (domain package, no Streamlit here)."""

__version__ = "0.1.0"
