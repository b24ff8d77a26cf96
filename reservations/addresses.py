"""Client addresses as rate limits see them: one IPv4 address, or one IPv6 /64 network.

An IPv6 subscriber usually gets a whole /64 (often more) and can pick any address in it, so a
limit keyed by the full IPv6 address is no limit at all. IPv4-mapped IPv6 addresses count as
the IPv4 address they carry. Anything that is not an IP address (a Unix socket, nothing) is
kept as it is.
"""

from __future__ import annotations

import ipaddress

IPV6_PREFIX_LENGTH = 64


def client_network(address: str | None) -> str:
    """The key that all the addresses one client can easily use share."""
    if not address:
        return ""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/{IPV6_PREFIX_LENGTH}", strict=False))
    return str(parsed)
