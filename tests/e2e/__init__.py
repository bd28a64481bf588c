"""Real-browser end-to-end tests: Playwright (Python) driving Debian's chromium against `streamlit run`."""
