"""The Streamlit settings every server of commlog starts with (`.streamlit/config.toml`, read from the
working directory: bin/start-demo, bin/start-cluster, the browser tests' and the benchmark's servers
all start from the checkout's root)."""

import tomllib
from pathlib import Path

from streamlit import config as streamlit_config

CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"


def _settings() -> dict[str, object]:
    """`section.option` -> value, as Streamlit names its options."""
    parsed = tomllib.loads(CONFIG.read_text(encoding="utf-8"))
    return {f"{section}.{option}": value for section, options in parsed.items() for option, value in options.items()}


def test_every_setting_is_an_option_this_streamlit_knows():
    """A misspelt or renamed option is ignored by Streamlit without a word: it must fail here."""
    known = set(streamlit_config._config_options_template)  # noqa: SLF001 - Streamlit's own table of its options
    assert set(_settings()) <= known, sorted(set(_settings()) - known)


def test_no_full_garbage_collection_after_every_run():
    """Streamlit's default collects all generations after every script and fragment run, holding the
    interpreter lock for about 100 ms with pandas, pyarrow and altair loaded: every session of the
    server waited, and each click's run reached the browser that much later (issue 16)."""
    assert _settings()["runner.postScriptGC"] is False
