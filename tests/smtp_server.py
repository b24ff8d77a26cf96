"""A real SMTP server for the tests (aiosmtpd, on the test's own event loop): it keeps every
message it accepts and can be told to refuse the next ones (a 4xx or 5xx), or be stopped and
started again on the same port."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections import deque
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.servers import free_port


class Handler:
    def __init__(self) -> None:
        self.accepted: list[Envelope] = []
        self.refusals: deque[str] = deque()  # answers to the next DATA commands
        self.data_commands = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_commands += 1
        if self.refusals:
            return self.refusals.popleft()
        self.accepted.append(envelope)
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.handler = Handler()
        self._server: asyncio.Server | None = None
        self._sessions: list[SMTP] = []

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()

        def session() -> SMTP:
            protocol = SMTP(self.handler, hostname="test.smtp", ident="test")
            self._sessions.append(protocol)
            return protocol

        self._server = await loop.create_server(
            session,
            host="127.0.0.1",
            port=self.port,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            # Connections already open are dropped too, as when a real server goes down.
            for protocol in self._sessions:
                if protocol.transport is not None:
                    protocol.transport.close()
            self._sessions.clear()
            await self._server.wait_closed()
            self._server = None

    def refuse_next(self, *answers: str) -> None:
        self.handler.refusals.extend(answers)

    @property
    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[misc]
            for envelope in self.handler.accepted
            if isinstance(envelope.content, bytes)
        ]

    def recipients(self) -> list[Any]:
        return [tuple(envelope.rcpt_tos) for envelope in self.handler.accepted]


async def eventually(check: Any, within: float = 10.0, every: float = 0.05) -> Any:
    """Call `check` (sync or async) until it answers something true; that answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        answer = check()
        if asyncio.iscoroutine(answer):
            answer = await answer
        if answer:
            return answer
        if loop.time() > deadline:
            raise AssertionError(f"not within {within} s: {check}")
        await asyncio.sleep(every)
