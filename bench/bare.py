"""A bare aiohttp server for the seat map's baseline: `python -m bench.bare PORT ANSWER.json`.

It answers every GET with one fixed answer held in memory (the status, body and headers of the
service's anonymous seat map as one request got it, fetched once by the suite: plain, gzip, or a
304), and with `websocket_message` in the answer, every WebSocket under /ws/ with that one text
message (the live map's snapshot): the physics of serving that answer
over HTTP on this machine, with the service's event loop (uvloop), no access log, no
middleware, nothing read or computed per request. The suite starts one process per server
worker, all on one port with SO_REUSEPORT, as `reservations serve --workers N` does.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import orjson
from aiohttp import web


def main() -> None:
    port = int(sys.argv[1])
    answer = orjson.loads(Path(sys.argv[2]).read_bytes())
    body = base64.b64decode(answer["body_base64"])
    headers = answer["headers"]
    status = int(answer.get("status", 200))
    # The service's listen backlog (BareServer passes it): a crowd's SYNs wait, not dropped.
    # Passed rather than imported, so that this process holds none of the service's code.
    backlog = int(answer["backlog"])

    message = answer.get("websocket_message")

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(status=status, body=body or None, headers=headers)

    async def serve_socket(request: web.Request) -> web.WebSocketResponse:
        """The live map's physics: the handshake, then the snapshot the service sent, from
        memory; then read until the viewer goes."""
        socket = web.WebSocketResponse(compress=False)
        await socket.prepare(request)
        await socket.send_str(message)
        async for _ in socket:
            pass
        return socket

    app = web.Application()
    if message is not None:
        app.router.add_get("/ws/{path:.*}", serve_socket)
    app.router.add_get("/{path:.*}", serve)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    web.run_app(
        app,
        host="127.0.0.1",
        port=port,
        reuse_port=True,
        backlog=backlog,
        access_log=None,
        print=None,
    )


if __name__ == "__main__":
    main()
