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


def storable(value: Any) -> Any:
    """`value` (what json.loads returns) with every string's unstorable characters replaced."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value) if _UNSTORABLE.search(value) else value
    if isinstance(value, list):
        return [storable(v) for v in value]
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    return value


def loads(data: bytes | str) -> Any:
    """json.loads, then `storable`; raises what json.loads raises."""
    return storable(json.loads(data))
