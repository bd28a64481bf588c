"""Which IP address a request comes from: the connection's peer, or, when that peer is a trusted
proxy (COMMLOG_TRUSTED_PROXIES, CIDRs; none by default), the address the proxies name in
`X-Forwarded-For`.

The header is read from the right: each proxy appends the address it received the request from, so
the rightmost address that is not a trusted proxy is the client; anything left of it was written by
the client itself and is never believed. An untrusted peer's header is ignored altogether.

Streamlit reports no address (None) for a loopback peer (127.0.0.1, ::1): that is treated as the
loopback address when deciding whether to trust the header, and stays None ("a local connection")
otherwise. Note that uvicorn, under Streamlit's server, already applies `X-Forwarded-For` from
loopback peers itself (its FORWARDED_ALLOW_IPS, default 127.0.0.1 and ::1): with a proxy on the same
host the peer commlog sees is already the proxy's client. No Streamlit here.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address

_LOOPBACK = ip_address("127.0.0.1")


def parse_address(text: str | None) -> Address | None:
    """An IP address from a peer or a header hop (`1.2.3.4`, `1.2.3.4:5678`, `[::1]:80`, `::1`), or
    None when it is not one. IPv4-mapped IPv6 addresses read as IPv4."""
    if not text:
        return None
    value = text.strip().strip('"')
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:  # IPv4 with a port
        value = value.split(":", 1)[0]
    try:
        address = ip_address(value)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: Address, proxies: Iterable[Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_ip(peer: str | None, forwarded_for: str | None, trusted_proxies: tuple[Network, ...]) -> str | None:
    """The client's IP address as text, or None for a local connection with nothing trusted to say
    otherwise."""
    peer_address = parse_address(peer)
    if peer is not None and peer_address is None:
        return None
    if not trusted_proxies or not forwarded_for or not _trusted(peer_address or _LOOPBACK, trusted_proxies):
        return str(peer_address) if peer_address is not None else None
    client = peer_address
    for hop in reversed([h for h in forwarded_for.split(",") if h.strip()]):
        address = parse_address(hop)
        if address is None:  # not an address: nothing left of it is believed
            break
        client = address
        if not _trusted(address, trusted_proxies):
            break
    return str(client) if client is not None else None
