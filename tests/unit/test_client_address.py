"""Which IP a sign-in comes from (commlog.client_address): the peer, or X-Forwarded-For read from
the right through trusted proxies only; and the COMMLOG_TRUSTED_PROXIES setting."""

from __future__ import annotations

from ipaddress import ip_network

import pytest

from commlog.client_address import client_ip
from commlog.settings import SettingsError, load

PROXIES = (ip_network("10.0.0.0/8"), ip_network("127.0.0.1/32"), ip_network("2001:db8::/32"))


@pytest.mark.parametrize("peer, forwarded, trusted, expected", [
    ("203.0.113.9", None, (), "203.0.113.9"),
    (None, None, (), None),  # a local connection (Streamlit reports loopback as None)
    ("203.0.113.9", "1.2.3.4", (), "203.0.113.9"),  # no proxy trusted: the header is ignored
    ("203.0.113.9", "1.2.3.4", PROXIES, "203.0.113.9"),  # an untrusted peer's header is ignored
    ("10.0.0.5", "198.51.100.7", PROXIES, "198.51.100.7"),
    ("10.0.0.5", "6.6.6.6, 198.51.100.7", PROXIES, "198.51.100.7"),  # the client's own claim (left) is not believed
    ("10.0.0.5", "198.51.100.7, 10.0.0.9", PROXIES, "198.51.100.7"),  # through two proxies
    (None, "198.51.100.7:51234", PROXIES, "198.51.100.7"),  # a proxy on this host; a port after the address
    ("10.0.0.5", "[2001:db9::1]:443", PROXIES, "2001:db9::1"),
    ("10.0.0.5", "not-an-ip, 10.0.0.9", PROXIES, "10.0.0.9"),  # garbage: stop at the last trusted hop
    ("10.0.0.5", "10.0.0.7, 10.0.0.9", PROXIES, "10.0.0.7"),  # only proxies: the farthest one
    ("::ffff:203.0.113.9", None, (), "203.0.113.9"),  # IPv4-mapped IPv6 reads as IPv4
    ("not an address", None, (), None),
])
def test_client_ip(peer, forwarded, trusted, expected):
    assert client_ip(peer, forwarded, trusted) == expected


def test_trusted_proxies_setting(tmp_path):
    none = tmp_path / "none.toml"
    assert load({}, none).trusted_proxies == ()
    s = load({"COMMLOG_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1 2001:db8::/32"}, none)
    assert s.trusted_proxies == PROXIES
    with pytest.raises(SettingsError, match=r"COMMLOG_TRUSTED_PROXIES is '10.0.0.0/33'.*CIDR"):
        load({"COMMLOG_TRUSTED_PROXIES": "10.0.0.0/33"}, none)
