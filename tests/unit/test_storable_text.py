"""Webhook JSON made storable (commlog.storable_text): NUL and lone surrogate halves become U+FFFD
however the body spells them; a body that cannot hold one comes back exactly as json.loads reads it."""

import json

import pytest

from commlog.storable_text import REPLACEMENT, loads


@pytest.mark.parametrize(
    "body",
    [
        b'[{"reason": "550 user\\u0000unknown"}]',  # NUL, escaped
        b'[{"reason": "550 user\\uD800unknown"}]',  # a lone high half, escaped, upper case
        b'[{"reason": "550 user\\udfffunknown"}]',  # a lone low half, escaped, lower case
        b'[{"reason": "550 user\xed\xa0\x80unknown"}]',  # a lone half as raw UTF-8 bytes (json reads them)
    ],
    ids=["escaped-nul", "escaped-high-half", "escaped-low-half", "raw-surrogate-bytes"],
)
def test_an_unstorable_character_becomes_the_replacement_character(body):
    assert loads(body) == [{"reason": f"550 user{REPLACEMENT}unknown"}]
    assert loads(body.decode("utf-8", "surrogatepass")) == [{"reason": f"550 user{REPLACEMENT}unknown"}]


@pytest.mark.parametrize(
    "body",
    [
        b'[{"email": "a@example.com", "reason": "250 OK", "n": 3, "x": null}]',
        b'[{"reason": "a literal backslash-u: \\\\u0000"}]',  # escaped backslash, then "u0000": plain text
        '[{"name": "Zoë \\u00e9 \\ud83d\\ude00"}]'.encode(),  # non-ASCII and a whole surrogate pair: kept
        '[{"name": "Zoë"}]'.encode(),
    ],
    ids=["ascii", "escaped-backslash", "escaped-pair", "utf-8"],
)
def test_storable_text_comes_back_as_json_reads_it(body):
    assert loads(body) == json.loads(body)
