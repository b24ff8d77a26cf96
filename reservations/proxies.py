"""The client's address behind trusted reverse proxies.

Rate limits key on `request.remote`. Behind a reverse proxy the peer is the proxy, which names
its own client in `X-Forwarded-For`; but any client can send that header too. So the header is
believed only when the peer is in TRUSTED_PROXIES, and it is read from the right: each proxy
appends the address it received the request from, so the nearest address that is not itself a
trusted proxy is the client. Whatever lies to its left was written by the client and is ignored.
With no trusted proxy configured the middleware is not installed and the header means nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_address(text: str) -> Address | None:
    """An address as proxies write it (`203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443`,
    `203.0.113.7:5100`); None for anything else (`unknown`, an obfuscated name, junk)."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


def _trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address in network for network in networks)


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted: tuple[Network, ...]
) -> str | None:
    """The client's address: `peer`, unless `peer` is a trusted proxy; then the nearest address
    of the X-Forwarded-For chain (read from the right) that is not a trusted proxy. An entry
    that is not an address ends the walk at the last trusted hop before it."""
    current = parse_address(peer) if peer else None
    if current is None or not _trusted(current, trusted):
        return peer
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


def make_trusted_proxy_middleware(
    trusted: tuple[Network, ...],
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """Outermost middleware: everything after it (rate limits, the viewers-per-address limit,
    logs) reads the client's address from `request.remote`."""

    @web.middleware
    async def trusted_proxy_middleware(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        forwarded_for = request.headers.getall("X-Forwarded-For", ())
        if forwarded_for:
            address = client_address(request.remote, forwarded_for, trusted)
            if address is not None and address != request.remote:
                request = request.clone(remote=address)
        return await handler(request)

    return trusted_proxy_middleware
