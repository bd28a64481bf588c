"""What a server's start writes to its log: no warning that says something untrue."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_a_starting_server_does_not_warn_that_its_caches_are_not_the_servers():
    # The launcher module as `streamlit run launcher.py` imports it, before Streamlit's runtime exists.
    run = subprocess.run([sys.executable, "-c", "import launcher"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True)
    log = run.stdout + run.stderr
    assert "No runtime found" not in log
    # Any other message of that logger (Streamlit's caching) still reaches the log.
    probe = ("import commlog.ui, logging\n"
             "logging.getLogger('streamlit.runtime.caching.cache_data_api').warning('another warning')\n")
    other = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                           check=True)
    assert "another warning" in other.stdout + other.stderr
