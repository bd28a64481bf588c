"""Streamlit helpers shared by the pages: engine, login guard, formatting. Streamlit is imported
only under commlog.ui, so the domain stays importable without it."""
