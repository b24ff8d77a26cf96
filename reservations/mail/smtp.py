"""Delivering one rendered message: through SMTP (aiosmtplib), or kept as `captured`.

`SMTP_URL` says how: `smtp://user:password@host:587` (STARTTLS, required, then login),
`smtps://user:password@host:465` (TLS from the first byte), `smtp://host:25?starttls=true`
(STARTTLS required, no login), or `smtp://host:25` without credentials (a local relay: plain,
no login). TLS checks the server's certificate and name against the system's CAs, or those of
SMTP_CA_FILE. One connection is kept open between messages and opened again after an error or
when the server closed it.

Every failure is sorted into temporary (try again later: a 4xx answer, a refused or dropped
connection, a timeout, and a refused login or an untrusted certificate, which are the
configuration's fault and not the email's) or permanent (a 5xx answer to the sender, the
recipient or the message).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import urllib.parse
from dataclasses import dataclass

import aiosmtplib


@dataclass(frozen=True)
class Delivered:
    """The server accepted the message (or, without SMTP, it was captured)."""

    captured: bool = False


class DeliveryFailed(Exception):
    """The server did not take the message; `temporary` says whether to try again, and
    `connection` whether the connection itself failed (no use trying the next message on it)."""

    def __init__(
        self, message: str, temporary: bool, code: int | None = None, *, connection: bool = False
    ) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.code = code
        self.connection = connection


@dataclass(frozen=True)
class SmtpServer:
    hostname: str
    port: int
    username: str | None
    password: str | None
    implicit_tls: bool
    starttls: bool = False  # required: the connection fails unless the server upgrades it

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urllib.parse.urlsplit(url)
        implicit_tls = parts.scheme == "smtps"
        username = urllib.parse.unquote(parts.username) if parts.username else None
        password = urllib.parse.unquote(parts.password) if parts.password else None
        asked = urllib.parse.parse_qs(parts.query).get("starttls", [""])[0] == "true"
        # With credentials, never send them in clear: STARTTLS is required.
        starttls = not implicit_tls and (asked or username is not None)
        default_port = 465 if implicit_tls else (587 if username else 25)
        return cls(
            parts.hostname or "localhost",
            parts.port or default_port,
            username,
            password,
            implicit_tls,
            starttls,
        )


class Transport:
    """How a sender hands a message on; one per concurrent delivery."""

    async def deliver(self, sender: str, recipient: str, message: bytes) -> Delivered:
        raise NotImplementedError

    async def close(self) -> None:
        """Let go of any connection (idle, or the sender stopping)."""


class CaptureTransport(Transport):
    """No SMTP_URL: nothing leaves the process; the email is kept, read in the admin console."""

    async def deliver(self, sender: str, recipient: str, message: bytes) -> Delivered:
        return Delivered(captured=True)


def _untrusted(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed somewhere in this exception's chain, if one did."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class SmtpTransport(Transport):
    def __init__(
        self,
        server: SmtpServer,
        timeout: float,
        local_hostname: str,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.server = server
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.tls_context = tls_context
        self._client: aiosmtplib.SMTP | None = None

    async def _connected(self) -> aiosmtplib.SMTP:
        client = self._client
        if client is not None and client.is_connected:
            return client
        server = self.server
        client = aiosmtplib.SMTP(
            hostname=server.hostname,
            port=server.port,
            username=server.username,
            password=server.password,
            use_tls=server.implicit_tls,
            start_tls=server.starttls,
            tls_context=self.tls_context if server.implicit_tls or server.starttls else None,
            timeout=self.timeout,
            local_hostname=self.local_hostname,  # not getfqdn(): a DNS lookup per connect
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            message = f"login refused: {exc.code} {exc.message}"
            raise DeliveryFailed(message, True, exc.code, connection=True) from None
        except aiosmtplib.SMTPResponseException as exc:
            message = f"connection refused: {exc.code} {exc.message}"
            raise DeliveryFailed(message, True, exc.code, connection=True) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            untrusted = _untrusted(exc)
            if untrusted is not None:
                message = (
                    f"TLS certificate of {server.hostname} not trusted: "
                    f"{untrusted.verify_message or untrusted} (see SMTP_CA_FILE)"
                )
            else:
                message = f"cannot connect: {type(exc).__name__}: {exc}"
            raise DeliveryFailed(message, True, connection=True) from None
        self._client = client
        return client

    async def deliver(self, sender: str, recipient: str, message: bytes) -> Delivered:
        client = await self._connected()
        try:
            errors, _ = await client.sendmail(sender, [recipient], message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            await self._reset()
            codes = [refused.code for refused in exc.recipients]
            text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
            raise DeliveryFailed(
                f"recipient refused: {text}",
                all(400 <= c < 500 for c in codes),
                codes[0] if codes else None,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            what = {
                aiosmtplib.SMTPSenderRefused: "sender refused",
                aiosmtplib.SMTPDataError: "message refused",
            }.get(type(exc), "refused")
            temporary = not 500 <= exc.code < 600
            raise DeliveryFailed(f"{what}: {exc.code} {exc.message}", temporary, exc.code) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            lost = f"connection lost: {type(exc).__name__}: {exc}"
            raise DeliveryFailed(lost, True, connection=True) from None
        if errors:  # only with several recipients, some refused; we send to one
            raise DeliveryFailed(f"recipient refused: {errors}", False)
        return Delivered()

    async def _reset(self) -> None:
        """After a refusal the connection is still good; RSET makes it ready for the next."""
        client = self._client
        if client is None:
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            await self.close()

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
                await asyncio.wait_for(client.quit(), timeout=2)
            client.close()


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """Certificates and host names checked, against `ca_file`'s CAs instead of the system's
    when it is given (SMTP_CA_FILE: a private CA, or a relay's self-signed certificate)."""
    return ssl.create_default_context(cafile=ca_file)


def make_transport(
    smtp_url: str | None,
    timeout: float,
    local_hostname: str,
    context: ssl.SSLContext | None = None,
) -> Transport:
    if not smtp_url:
        return CaptureTransport()
    return SmtpTransport(SmtpServer.from_url(smtp_url), timeout, local_hostname, context)
