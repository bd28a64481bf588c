"""JSON from outside (webhook bodies) made storable: PostgreSQL's text refuses
NUL, and UTF-8 (the driver's encoding) has no lone surrogate halves (JSON may spell either as
`\\u0000`, `\\ud800`). Each becomes U+FFFD, the replacement character, so one odd character in one
event neither fails its whole batch (which the provider would post again for a day) nor changes
any other text. The same text always becomes the same, so an odd provider event id still stores once.
"""

from __future__ import annotations

import json
import re
from typing import Any

# In a str that json.loads made, a code point in D800-DFFF is always a lone half: it joins pairs.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"
# How JSON text in ASCII spells them: `\u0000`, `\uD800`..`\uDFFF` (hex digits in either case).
_ESCAPED_UNSTORABLE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_ESCAPED_UNSTORABLE_BYTES = re.compile(_ESCAPED_UNSTORABLE.pattern.encode())


def storable(value: Any) -> Any:
    """`value` (what json.loads returns) with every string's unstorable characters replaced."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value


def _surely_storable(data: bytes | str) -> bool:
    """Whether json.loads(data) can hold no unstorable character, seen from the text alone: ASCII
    without NUL (so read as UTF-8, never as UTF-16 or UTF-32, and with no raw surrogate bytes) and
    without an escape that spells one. A webhook body nearly always is; `storable`'s walk over every
    string is then skipped (a third of the time json.loads takes again)."""
    if isinstance(data, str):
        return data.isascii() and "\x00" not in data and not _ESCAPED_UNSTORABLE.search(data)
    return data.isascii() and b"\x00" not in data and not _ESCAPED_UNSTORABLE_BYTES.search(data)


def loads(data: bytes | str) -> Any:
    """json.loads, then `storable` (unless the text cannot hold what it replaces); raises what
    json.loads raises."""
    value = json.loads(data)
    return value if _surely_storable(data) else storable(value)
