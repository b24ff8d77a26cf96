"""The anonymous seat map straight from the cache, ahead of the middleware chain.

When sales open, most requests are the same anonymous GET of one showtime's map, answered from
the cache (seat_map.py) with bytes compressed once, or with a 304. Such an answer needs none of
what the middlewares do for other requests (the error shape, tokens, validation), and their
calls cost about as much as sending the answer. This middleware, first in the chain, answers it
itself with what the chain would have added (request id, security headers, CORS, metrics, the
access log) and hands everything else on, the cache misses included, so that the two paths
give the same answer. tests/areas/booking/test_conditional_answers.py holds them to it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from .. import representations
from ..context import REQUEST_ID, SEAT_MAPS
from ..logs import log_access, request_id_of
from ..metrics import count_request
from ..security import harden_api_answer

SEAT_MAP_PATH = re.compile(r"/api/v1/showtimes/([0-9a-fA-F-]{32,36})/seats")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def seat_map_fast_path(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in ("GET", "HEAD") or "Authorization" in request.headers:
        return await handler(request)
    match = SEAT_MAP_PATH.fullmatch(request.path)
    if match is None:
        return await handler(request)
    try:
        showtime_id = uuid.UUID(match[1])
    except ValueError:
        return await handler(request)
    cache = request.app.get(SEAT_MAPS)
    entry = cache.serve(showtime_id) if cache is not None else None
    if entry is None:
        return await handler(request)
    started = time.perf_counter()
    request[REQUEST_ID] = request_id_of(request)
    response = representations.answer(request, entry.answer)
    response.headers["X-Request-ID"] = request[REQUEST_ID]
    harden_api_answer(request, response)
    count_request(request, response.status, started)
    log_access(request, response.status, started)
    return response
