"""Answers made once and sent many times: compressed once, validated by their ETag.

A hot read (the anonymous seat map, the programme, the showtime listing) is the same bytes for
every caller until something changes. A `Representation` holds those bytes, their ETag and, made
on first demand and then kept, their gzip and Brotli encodings: a thousand phones asking for one
version cost one compression per coding, not a thousand. `answer` picks the coding the client
accepts and answers 304 with no body when If-None-Match names the current tag.

The ETag is weak (`W/"..."`): the identity, gzip and Brotli bytes are one representation in
three codings, equivalent for If-None-Match (weak comparison), and nginx or a CDN that re-encodes
an answer keeps a weak tag as it is.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import zlib
from collections.abc import Iterable

import brotli
from aiohttp import web

IDENTITY = "identity"
GZIP = "gzip"
BROTLI = "br"
CODINGS = (BROTLI, GZIP)  # preferred first, when the client accepts both equally

# Measured on 300-seat maps (random UUIDs, mixed statuses and seat types): Brotli quality 6 with
# an 8 KiB window gives at most ~8,000 bytes in ~1.5 ms; a larger window gives ~8,400, quality
# 10 or 11 ~7,500 but takes 30 to 130 ms, too long to spend on the event loop per version.
BROTLI_QUALITY = 6
BROTLI_WINDOW_BITS = 13
# Level 9 with a 8 KiB window: ~8,900 bytes for the same maps in ~1.3 ms (level 6: ~9,200).
GZIP_LEVEL = 9
GZIP_WINDOW_BITS = 13

NO_CACHE = "no-cache"  # any cache may keep it, but must ask (If-None-Match) before each use
PRIVATE_NO_CACHE = "private, no-cache"  # the caller's own (held_by_me): never a shared cache


# For the API docs of the routes that answer conditionally.
IF_NONE_MATCH_HEADER = {
    "in": "header",
    "name": "If-None-Match",
    "type": "string",
    "required": False,
    "description": "The ETag of the answer the client has: while it is still the current one "
    "the answer is 304 with no body.",
}
NOT_MODIFIED_DOC = {
    "description": "Not modified: If-None-Match names the current answer (no body)",
    "headers": {
        "ETag": {"type": "string"},
        "Cache-Control": {"type": "string"},
        "Vary": {"type": "string"},
    },
}


def gzip_encode(body: bytes) -> bytes:
    """`body` as a gzip stream (no file name, mtime 0: the same bytes every time)."""
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 16 + GZIP_WINDOW_BITS, 9)
    return compressor.compress(body) + compressor.flush()


def brotli_encode(body: bytes) -> bytes:
    return bytes(brotli.compress(body, quality=BROTLI_QUALITY, lgwin=BROTLI_WINDOW_BITS))


ENCODERS = {GZIP: gzip_encode, BROTLI: brotli_encode}


def tag_of(body: bytes, prefix: str = "", key: bytes = b"") -> str:
    """An opaque tag for `body` (`prefix` first, for people reading it): a keyed hash, so that
    the same bytes answered to two callers (key: the user) carry two tags."""
    digest = hashlib.blake2b(body, digest_size=12, key=key).digest()
    return prefix + base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Representation:
    """One answer's bytes, its tag, and its encodings, each made at most once."""

    __slots__ = ("body", "tag", "etag", "content_type", "content_type_header", "_encoded")

    def __init__(self, body: bytes, tag: str, content_type: str = "application/json") -> None:
        self.body = body
        self.tag = tag  # the opaque part of the ETag
        self.etag = f'W/"{tag}"'
        self.content_type = content_type
        self.content_type_header = f"{content_type}; charset=utf-8"
        self._encoded: dict[str, bytes] = {}

    def encoded(self, coding: str) -> bytes:
        """The body in `coding` (IDENTITY, GZIP or BROTLI), compressed on first demand only."""
        if coding == IDENTITY:
            return self.body
        encoded = self._encoded.get(coding)
        if encoded is None:
            encoded = self._encoded[coding] = ENCODERS[coding](self.body)
        return encoded


@functools.lru_cache(maxsize=256)  # clients send a handful of distinct values
def accepted_coding(accept_encoding: str | None) -> str:
    """The coding to answer in: Brotli or gzip when the client accepts it (q > 0, named or by
    `*`), the higher q first, Brotli on a tie; else identity."""
    if not accept_encoding:
        return IDENTITY
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, _, params = item.partition(";")
        name = name.strip().lower()
        if not name:
            continue
        weight = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value.strip())
                except ValueError:
                    weight = 0.0
        weights[name] = weight
    best, best_weight = IDENTITY, 0.0
    for coding in CODINGS:
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > best_weight:
            best, best_weight = coding, weight
    return best


def matches(request: web.Request, tags: Iterable[str]) -> bool:
    """Whether If-None-Match names one of `tags` (opaque parts), or is `*` (weak comparison)."""
    sent = request.if_none_match
    if not sent:
        return False
    wanted = set(tags)
    return any(etag.value == "*" or etag.value in wanted for etag in sent)


def not_modified(etag: str, cache_control: str, vary: str) -> web.Response:
    """304: no body; the headers a 200 would have sent that caches need (RFC 9110 15.4.5)."""
    return web.Response(
        status=304, headers={"ETag": etag, "Cache-Control": cache_control, "Vary": vary}
    )


def answer(
    request: web.Request,
    representation: Representation,
    cache_control: str = NO_CACHE,
    vary: str = "Accept-Encoding",
) -> web.Response:
    """200 with the representation in the best coding the client accepts, or 304 when the
    client's If-None-Match names it."""
    if matches(request, (representation.tag,)):
        return not_modified(representation.etag, cache_control, vary)
    coding = accepted_coding(request.headers.get("Accept-Encoding"))
    headers = {
        "Content-Type": representation.content_type_header,
        "ETag": representation.etag,
        "Cache-Control": cache_control,
        "Vary": vary,
    }
    if coding != IDENTITY:
        headers["Content-Encoding"] = coding
    return web.Response(body=representation.encoded(coding), headers=headers)
