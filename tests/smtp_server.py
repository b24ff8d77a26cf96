"""A real SMTP server for the tests (aiosmtpd, on the test's own event loop): it keeps every
message it accepts and can be told to refuse the next ones (a 4xx or 5xx), or be stopped and
started again on the same port. With a certificate (`self_signed`) it speaks TLS, from the first
byte (`tls="implicit"`, smtps) or after STARTTLS (`tls="starttls"`, required), and with
`logins` it requires AUTH."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import ipaddress
import ssl
import warnings
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import asyncpg
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.servers import free_port


@dataclass(frozen=True)
class Certificate:
    cert_file: Path  # PEM: what a client told to trust it (SMTP_CA_FILE) reads
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def self_signed(
    directory: Path, names: tuple[str, ...] = ("localhost", "127.0.0.1")
) -> Certificate:
    """A self-signed certificate (its own CA) for these DNS names and IP addresses."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alternatives: list[x509.GeneralName] = []
    for name in names:
        try:
            alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alternatives.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(alternatives), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_file, key_file)


class Handler:
    def __init__(self) -> None:
        self.accepted: list[Envelope] = []
        self.refusals: deque[str] = deque()  # answers to the next DATA commands
        self.data_commands = 0
        # For each accepted message: whether it came over TLS, and the login it came under.
        self.over_tls: list[bool] = []
        self.logins: list[str | None] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_commands += 1
        if self.refusals:
            return self.refusals.popleft()
        self.accepted.append(envelope)
        transport = server.transport
        self.over_tls.append(
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        login = session.auth_data if session.authenticated else None
        self.logins.append(login.decode() if isinstance(login, bytes) else None)
        return "250 OK"


class SmtpServer:
    def __init__(
        self,
        tls: Literal["implicit", "starttls"] | None = None,
        certificate: Certificate | None = None,
        logins: dict[str, str] | None = None,
    ) -> None:
        assert (tls is None) == (certificate is None), "TLS needs a certificate"
        self.port = free_port()
        self.handler = Handler()
        self.tls = tls
        self.certificate = certificate
        self.logins = logins or {}
        self._server: asyncio.Server | None = None
        self._sessions: list[SMTP] = []

    @property
    def url(self) -> str:
        return f"{'smtps' if self.tls == 'implicit' else 'smtp'}://127.0.0.1:{self.port}"

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            login, password = data.login.decode(), data.password.decode()
            if login in self.logins and self.logins[login] == password:
                return AuthResult(success=True, auth_data=login.encode())
        return AuthResult(success=False, handled=False)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        context = self.certificate.server_context() if self.certificate else None

        def session() -> SMTP:
            with warnings.catch_warnings():  # AUTH without STARTTLS: implicit TLS is TLS
                warnings.simplefilter("ignore", UserWarning)
                protocol = self._protocol(context)
            self._sessions.append(protocol)
            return protocol

        self._server = await loop.create_server(
            session,
            host="127.0.0.1",
            port=self.port,
            ssl=context if self.tls == "implicit" else None,
        )

    def _protocol(self, context: ssl.SSLContext | None) -> SMTP:
        return SMTP(
            self.handler,
            hostname="test.smtp",
            ident="test",
            tls_context=context if self.tls == "starttls" else None,
            require_starttls=self.tls == "starttls",
            authenticator=self._authenticate if self.logins else None,
            auth_required=bool(self.logins),
            # Implicit TLS is TLS too, though aiosmtpd only counts STARTTLS as such.
            auth_require_tls=self.tls != "implicit",
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


# Settings that make the sender quick to retry and to notice: the tests' outbox.
FAST_MAIL = {
    "mail_max_per_second": 1000.0,
    "mail_retry_base_seconds": 0.2,
    "mail_poll_seconds": 0.3,
    "mail_timeout_seconds": 2.0,
}


async def queue_verification_emails(db: asyncpg.Connection, count: int) -> None:
    """`count` verification emails queued straight in the outbox, one recipient each."""
    await db.execute(
        "INSERT INTO emails (kind, recipient, payload)"
        " SELECT 'verify_email', 'reader' || g || '@example.com',"
        "        jsonb_build_object('token', 'token-' || g, 'valid_seconds', 3600)"
        " FROM generate_series(1, $1) AS g",
        count,
    )


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
