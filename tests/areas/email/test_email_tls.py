"""SMTP over TLS against a real aiosmtpd server with a self-signed certificate made by the test:
implicit TLS (smtps://) and STARTTLS (with credentials, or ?starttls=true), the certificate
trusted through SMTP_CA_FILE, logins over TLS, and an untrusted certificate kept as the
attempt's error."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from reservations.db import create_pool
from reservations.mail.sender import Sender
from reservations.settings import Settings, SettingsError
from tests.smtp_server import (
    FAST_MAIL,
    Certificate,
    SmtpServer,
    eventually,
    queue_verification_emails,
    self_signed,
)

LOGINS = {"mailer": "s3cret pass"}


@pytest.fixture
def certificate(tmp_path: Path) -> Certificate:
    return self_signed(tmp_path / "trusted")


async def send_all(
    database: str, settings: Settings, db: asyncpg.Connection, *, until: str
) -> list[asyncpg.Record]:
    """Run one sender until every email is `until` (or has failed an attempt, for
    "attempted"); the emails' rows."""
    pool = await create_pool(database, settings)
    sender = Sender(pool, database, settings)
    sender.start()
    try:
        if until == "attempted":
            check = "SELECT bool_and(attempts >= 1 AND sending_since IS NULL) FROM emails"
            await eventually(lambda: db.fetchval(check), within=15)
        else:
            check = "SELECT bool_and(status = $1) FROM emails"
            await eventually(lambda: db.fetchval(check, until), within=15)
    finally:
        await sender.stop()
        await pool.close()
    return await db.fetch("SELECT status, attempts, last_error FROM emails")


def mail_settings(settings: Settings, url: str, ca_file: Path | None) -> Settings:
    return dataclasses.replace(
        settings,
        smtp_url=url,
        smtp_ca_file=str(ca_file) if ca_file else None,
        **FAST_MAIL,  # type: ignore[arg-type]
    )


@pytest.fixture
async def servers(certificate: Certificate) -> AsyncIterator[dict[str, SmtpServer]]:
    started = {
        "implicit": SmtpServer("implicit", certificate, LOGINS),
        "starttls": SmtpServer("starttls", certificate, LOGINS),
        "starttls, no login": SmtpServer("starttls", certificate),
    }
    for server in started.values():
        await server.start()
    yield started
    for server in started.values():
        await server.stop()


def with_login(url: str, login: str = "mailer", password: str = "s3cret%20pass") -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{login}:{password}@{rest}"


@pytest.mark.parametrize(
    ("kind", "url_of"),
    [
        ("implicit", with_login),  # smtps://mailer:...@127.0.0.1:port
        ("starttls", with_login),  # smtp://mailer:...@127.0.0.1:port: STARTTLS required
        ("starttls, no login", lambda url: f"{url}?starttls=true"),
    ],
)
async def test_tls_delivers_with_the_certificate_trusted(
    database: str,
    settings: Settings,
    db: asyncpg.Connection,
    servers: dict[str, SmtpServer],
    certificate: Certificate,
    kind: str,
    url_of: object,
) -> None:
    server = servers[kind]
    url = url_of(server.url)  # type: ignore[operator]
    await queue_verification_emails(db, 3)
    rows = await send_all(
        database, mail_settings(settings, url, certificate.cert_file), db, until="sent"
    )
    assert [(row["status"], row["attempts"]) for row in rows] == [("sent", 1)] * 3
    assert len(server.messages) == 3
    assert server.handler.over_tls == [True] * 3
    expected_login = None if kind == "starttls, no login" else "mailer"
    assert server.handler.logins == [expected_login] * 3


@pytest.mark.parametrize("kind", ["implicit", "starttls"])
async def test_an_untrusted_certificate_is_a_temporary_failure_kept_as_the_error(
    database: str,
    settings: Settings,
    db: asyncpg.Connection,
    servers: dict[str, SmtpServer],
    tmp_path: Path,
    kind: str,
) -> None:
    """Another CA than the server's (or none: the system's CAs, which know nothing of a
    self-signed certificate): nothing is sent, not even the login, and the email waits for
    the configuration to be fixed."""
    server = servers[kind]
    other_ca = self_signed(tmp_path / "other").cert_file
    for ca_file in (other_ca, None):
        await db.execute("DELETE FROM emails")
        await queue_verification_emails(db, 1)
        settings_now = mail_settings(settings, with_login(server.url), ca_file)
        (row,) = await send_all(database, settings_now, db, until="attempted")
        assert row["status"] == "queued"  # tried again after the back-off
        assert "not trusted" in row["last_error"], row["last_error"]
        assert "self-signed certificate" in row["last_error"]
        attempt = await db.fetchrow("SELECT outcome, error FROM email_attempts LIMIT 1")
        assert attempt["outcome"] == "temporary_failure"
        assert attempt["error"] == row["last_error"]
    assert server.handler.data_commands == 0


async def test_a_certificate_for_another_name_is_not_trusted(
    database: str, settings: Settings, db: asyncpg.Connection, tmp_path: Path
) -> None:
    elsewhere = self_signed(tmp_path / "elsewhere", names=("mail.example.com",))
    server = SmtpServer("implicit", elsewhere, LOGINS)
    await server.start()
    try:
        await queue_verification_emails(db, 1)
        settings_now = mail_settings(settings, with_login(server.url), elsewhere.cert_file)
        (row,) = await send_all(database, settings_now, db, until="attempted")
    finally:
        await server.stop()
    assert row["status"] == "queued"
    assert "not trusted" in row["last_error"] and "127.0.0.1" in row["last_error"]
    assert server.handler.data_commands == 0


async def test_a_wrong_password_over_tls_is_kept_as_the_error(
    database: str,
    settings: Settings,
    db: asyncpg.Connection,
    servers: dict[str, SmtpServer],
    certificate: Certificate,
) -> None:
    server = servers["starttls"]
    await queue_verification_emails(db, 1)
    url = with_login(server.url, password="wrong")
    (row,) = await send_all(
        database, mail_settings(settings, url, certificate.cert_file), db, until="attempted"
    )
    assert row["status"] == "queued"
    assert row["last_error"].startswith("login refused: 535"), row["last_error"]
    assert server.handler.data_commands == 0


def test_tls_settings_are_read_as_documented(certificate: Certificate, tmp_path: Path) -> None:
    from reservations.mail.smtp import SmtpServer as Server

    assert Server.from_url("smtp://relay.example.com?starttls=true").starttls
    assert Server.from_url("smtp://user:pw@relay.example.com").starttls
    assert not Server.from_url("smtp://relay.example.com").starttls
    implicit = Server.from_url("smtps://user:pw@relay.example.com")
    assert implicit.implicit_tls and not implicit.starttls
    read = Settings.from_env(
        {"SMTP_URL": "smtp://h:25?starttls=true", "SMTP_CA_FILE": str(certificate.cert_file)}
    )
    assert read.smtp_ca_file == str(certificate.cert_file)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello")
    for bad in (
        {"SMTP_CA_FILE": str(tmp_path / "missing.pem")},
        {"SMTP_CA_FILE": str(not_pem)},
        {"SMTP_URL": "smtp://h?starttls=yes"},
        {"SMTP_URL": "smtp://h?tls=true"},
        {"SMTP_URL": "smtps://h?starttls=true"},
        {"SMTP_URL": "smtp://user:hunter2@h?starttls=false"},
    ):
        with pytest.raises(SettingsError) as refused:
            Settings.from_env(bad)
        assert "hunter2" not in str(refused.value)
