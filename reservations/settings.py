"""Settings: one frozen dataclass read from the environment and validated once at start.

A bad value raises `SettingsError` naming the variable, so the service stops with one clear
line instead of failing later in a request.
"""

from __future__ import annotations

import decimal
import ipaddress
import os
import secrets
import ssl
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parseaddr
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

T = TypeVar("T")

MIN_JWT_SECRET_BYTES = 32
# A secret of few distinct characters ("aaaa...", "abab...") is long but guessable.
MIN_JWT_SECRET_DISTINCT_CHARACTERS = 8
# Attempts older than a day are forgotten (forget_old_login_attempts): no window may be longer.
MAX_RATE_WINDOW_SECONDS = 86400
MAX_PRICE_MULTIPLIER = Decimal("99.99")  # seat_types.price_multiplier is numeric(4,2)
MAX_STORED_AMOUNT = Decimal("99999999.99")  # prices and totals are numeric(10,2)
# Values copied from tutorials and examples; a deployment using one is as good as unauthenticated.
KNOWN_EXAMPLE_SECRETS = frozenset(
    {
        "secret",
        "changeme",
        "change-me",
        "your-secret-key",
        "your-256-bit-secret",
        "supersecret",
        "jwt-secret",
        "please-change-this-secret-in-production",
        "change-me-change-me-change-me-change-me",
    }
)
GAP_RULES = ("warn", "enforce", "off")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


def _positive_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be greater than zero, got {raw!r}")
    return value


def _price(name: str, raw: str) -> Decimal:
    try:
        value = Decimal(raw)
    except decimal.InvalidOperation:
        raise SettingsError(f"{name} must be an amount such as 250.00, got {raw!r}") from None
    if not value.is_finite() or value < Decimal("0.01") or value != value.quantize(Decimal("0.01")):
        raise SettingsError(f"{name} must be at least 0.01, with at most two places, got {raw!r}")
    return value


def _non_negative_int(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise SettingsError(f"{name} must not be negative, got {raw!r}")
    return value


def _port(name: str, raw: str) -> int:
    value = _non_negative_int(name, raw)
    if value > 65535:
        raise SettingsError(f"{name} must be a TCP port (0-65535), got {raw!r}")
    return value


def _zone(name: str, raw: str) -> ZoneInfo:
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{name} must be an IANA time zone such as Europe/Paris, got {raw!r}"
        ) from None


def _choice(choices: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        value = raw.strip()
        if name == "LOG_LEVEL":
            value = value.upper()
        else:
            value = value.lower()
        if value not in choices:
            raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
        return value

    return parse


def _origins(name: str, raw: str) -> tuple[str, ...]:
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise SettingsError(
                f"{name} must list origins like https://example.com, got {origin!r}"
            )
    return origins


def _text(name: str, raw: str) -> str:
    return raw


def _networks(name: str, raw: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    networks = []
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise SettingsError(
                f"{name} must list IP addresses or networks like 10.0.0.0/8, got {part!r}"
            ) from None
    return tuple(networks)


def _smtp_url(name: str, raw: str) -> str:
    """smtp://[user:password@]host[:port][?starttls=true] (STARTTLS when it has credentials or
    asks for it) or smtps://... (implicit TLS); reservations/mail/smtp.py reads it."""
    parts = urllib.parse.urlsplit(raw.strip())
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise SettingsError(
            f"{name} must look like smtp://user:password@host:587 or smtps://host:465, "
            "got a value of another form"  # the value may hold a password: not repeated
        )
    try:
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        raise SettingsError(f"{name} has a port that is not a number from 0 to 65535") from None
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    if set(query) - {"starttls"} or any(len(values) != 1 for values in query.values()):
        raise SettingsError(f"{name} takes one query parameter, starttls=true or starttls=false")
    starttls = query.get("starttls", [None])[0]
    if starttls not in (None, "true", "false"):
        raise SettingsError(f"{name}: starttls must be true or false")
    if starttls is not None and parts.scheme == "smtps":
        raise SettingsError(f"{name}: smtps:// is TLS from the first byte; starttls is for smtp://")
    if starttls == "false" and parts.username:
        raise SettingsError(f"{name}: a password is never sent in clear; drop starttls=false")
    return raw.strip()


def _ca_file(name: str, raw: str) -> str:
    """A PEM file of CA certificates that ssl can load."""
    try:
        ssl.create_default_context(cafile=raw)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"{name} is not a readable PEM file of certificates: {exc}") from None
    return raw


def _base_url(name: str, raw: str) -> str:
    url = raw.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise SettingsError(f"{name} must be like https://tickets.example.com, got {raw!r}")
    return url


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0 or value == float("inf"):
        raise SettingsError(f"{name} must be greater than zero, got {raw!r}")
    return value


def _boolean(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _currency(name: str, raw: str) -> str:
    code = raw.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise SettingsError(f"{name} must be a three-letter ISO 4217 code like EUR, got {raw!r}")
    return code


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8080
    jwt_secret: str = field(default="", repr=False)
    jwt_ttl_seconds: int = 3600
    hold_ttl_seconds: int = 600
    max_hold_lifetime_seconds: int = 1800
    sweep_interval_seconds: int = 5
    sweep_batch_size: int = 500
    max_seats_per_hold: int = 10
    # Seats one user may hold plus own for one showtime (issue 25), counted under its lock.
    max_seats_per_user_per_showtime: int = 10
    # Failed POST /vouchers/check attempts a user may make per window (guessing codes).
    voucher_check_max_failures: int = 10
    voucher_check_window_seconds: int = 600
    # The highest base price of a showtime; with seat multipliers (at most 99.99) and
    # MAX_SEATS_PER_HOLD seats a reservation's total must fit numeric(10,2).
    max_ticket_price: Decimal = Decimal("1000.00")
    max_showtimes_held_per_user: int = 3
    hold_cooldown_seconds: int = 300
    single_seat_gap_rule: str = "warn"
    bcrypt_rounds: int = 12
    data_dir: Path = Path(".data")
    poster_dir: Path = Path(".data/posters")
    max_poster_bytes: int = 5 * 1024 * 1024
    max_poster_pixels: int = 40_000_000
    cinema_tz: ZoneInfo = ZoneInfo("UTC")
    currency: str = "EUR"  # ISO 4217: what every price is in; pages show it, the API docs say it
    cleaning_buffer_minutes: int = 15
    log_level: str = "INFO"
    log_format: str = "text"
    allowed_origins: tuple[str, ...] = ()
    # 0: the pool keeps DB_POOL_MAX_SIZE connections open (see pool_min_size).
    db_pool_min_size: int = 0
    db_pool_max_size: int = 20
    db_statement_timeout_ms: int = 5000
    db_acquire_timeout_seconds: int = 5
    # Seat changes of one showtime that may hold a pooled connection at once in a process
    # (never more than half the pool; the rest wait without one), and how long one waits for
    # its turn before 503 busy. Two a process keep a next change waiting on the showtime's lock
    # whenever it is released; more only add waiters inside PostgreSQL, which cost it CPU
    # (docs/architecture.md).
    seat_change_permits_per_showtime: int = 2
    seat_change_queue_timeout_seconds: int = 3
    # On SIGTERM, in-flight requests get this long to finish; `serve --workers N` kills a
    # worker still running 10 s after that.
    shutdown_timeout_seconds: int = 15
    login_max_failures: int = 5
    login_window_seconds: int = 300
    login_max_failures_per_email: int = 100
    login_max_failures_per_address: int = 100
    login_device_ttl_days: int = 90
    register_max_per_address: int = 10
    register_window_seconds: int = 3600
    max_body_bytes: int = 1024 * 1024
    max_viewers_per_address: int = 50
    max_viewers: int = 10000
    ws_queue_size: int = 256
    ws_heartbeat_seconds: int = 30
    # Ed25519 keys that sign ticket codes, `kid:seed,...`, the first signing (checkin/codes.py);
    # empty: generated once under DATA_DIR. Read and checked when the app is made.
    ticket_signing_keys: str = field(default="", repr=False)
    checkin_opens_minutes: int = 60  # the door opens this long before a showtime starts
    # Reverse proxies whose X-Forwarded-For is believed (reservations/proxies.py); none: ignored.
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    # Email (reservations/mail/): without smtp_url emails are kept as `captured`.
    smtp_url: str | None = field(default=None, repr=False)  # may carry a password
    smtp_ca_file: str | None = None  # the CAs to trust for SMTP's TLS instead of the system's
    mail_from: str = "Cinema <tickets@localhost>"
    public_base_url: str = "http://localhost:8080"
    mail_retry_base_seconds: float = 30.0
    mail_max_attempts: int = 8
    mail_max_per_second: float = 10.0
    mail_poll_seconds: float = 10.0
    mail_timeout_seconds: float = 30.0
    password_reset_ttl_seconds: int = 3600
    password_reset_max_per_email: int = 3
    password_reset_max_per_address: int = 20
    password_reset_window_seconds: int = 3600
    verify_email_ttl_seconds: int = 3 * 86400
    verify_email_resend_max: int = 3
    verify_email_resend_window_seconds: int = 3600
    require_verified_email: bool = False
    # Processes hashing passwords for each worker (not read from the environment): `serve` sets
    # it to the cores per worker, so that N workers hash in N processes, one a core; 0 means 2.
    hashing_processes: int = 0

    @property
    def pool_min_size(self) -> int:
        """Connections a pool keeps open: DB_POOL_MIN_SIZE, by default all DB_POOL_MAX_SIZE of
        them. A burst (the first minute of sales, a login storm) then finds them open: opening a
        dozen at once costs PostgreSQL a tenth of a second of both cores (bench/, login)."""
        return self.db_pool_min_size or self.db_pool_max_size

    @property
    def db_lock_timeout_ms(self) -> int:
        """The pool's lock_timeout: DB_STATEMENT_TIMEOUT_MS, at most 3 s."""
        return min(self.db_statement_timeout_ms, 3000)

    @property
    def embedded(self) -> bool:
        """True when the service runs its own PostgreSQL from the pgserver package."""
        return self.database_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}

        def read(name: str, parse: Callable[[str, str], T], attribute: str | None = None) -> None:
            raw = env.get(name)
            if raw is None or raw == "":
                return
            values[attribute or name.lower()] = parse(name, raw)

        read("DATABASE_URL", _text)
        read("HOST", _text)
        read("PORT", _port)
        read("JWT_SECRET", _text)
        read("JWT_TTL_SECONDS", _positive_int)
        read("HOLD_TTL_SECONDS", _positive_int)
        read("MAX_HOLD_LIFETIME_SECONDS", _positive_int)
        read("SWEEP_INTERVAL_SECONDS", _positive_int)
        read("SWEEP_BATCH_SIZE", _positive_int)
        read("MAX_SEATS_PER_HOLD", _positive_int)
        read("MAX_SEATS_PER_USER_PER_SHOWTIME", _positive_int)
        read("VOUCHER_CHECK_MAX_FAILURES", _positive_int)
        read("VOUCHER_CHECK_WINDOW_SECONDS", _positive_int)
        read("MAX_TICKET_PRICE", _price)
        read("MAX_SHOWTIMES_HELD_PER_USER", _positive_int)
        read("HOLD_COOLDOWN_SECONDS", _non_negative_int)
        read("SINGLE_SEAT_GAP_RULE", _choice(GAP_RULES))
        read("BCRYPT_ROUNDS", _positive_int)
        read("DATA_DIR", lambda n, r: Path(r))
        read("POSTER_DIR", lambda n, r: Path(r))
        read("MAX_POSTER_BYTES", _positive_int)
        read("MAX_POSTER_PIXELS", _positive_int)
        read("CINEMA_TZ", _zone)
        read("CURRENCY", _currency)
        read("CLEANING_BUFFER_MINUTES", _non_negative_int)
        read("LOG_LEVEL", _choice(LOG_LEVELS))
        read("LOG_FORMAT", _choice(("text", "json")))
        read("ALLOWED_ORIGINS", _origins)
        read("DB_POOL_MIN_SIZE", _positive_int)
        read("DB_POOL_MAX_SIZE", _positive_int)
        read("DB_STATEMENT_TIMEOUT_MS", _positive_int)
        read("DB_ACQUIRE_TIMEOUT_SECONDS", _positive_int)
        read("SEAT_CHANGE_PERMITS_PER_SHOWTIME", _positive_int)
        read("SEAT_CHANGE_QUEUE_TIMEOUT_SECONDS", _positive_int)
        read("SHUTDOWN_TIMEOUT_SECONDS", _positive_int)
        read("LOGIN_MAX_FAILURES", _positive_int)
        read("LOGIN_WINDOW_SECONDS", _positive_int)
        read("LOGIN_MAX_FAILURES_PER_EMAIL", _positive_int)
        read("LOGIN_MAX_FAILURES_PER_ADDRESS", _positive_int)
        read("LOGIN_DEVICE_TTL_DAYS", _positive_int)
        read("REGISTER_MAX_PER_ADDRESS", _positive_int)
        read("REGISTER_WINDOW_SECONDS", _positive_int)
        read("MAX_BODY_BYTES", _positive_int)
        read("MAX_VIEWERS_PER_ADDRESS", _positive_int)
        read("MAX_VIEWERS", _positive_int)
        read("WS_QUEUE_SIZE", _positive_int)
        read("WS_HEARTBEAT_SECONDS", _positive_int)
        read("TRUSTED_PROXIES", _networks)
        read("TICKET_SIGNING_KEYS", _text)
        read("CHECKIN_OPENS_MINUTES", _non_negative_int)
        read("SMTP_URL", _smtp_url)
        read("SMTP_CA_FILE", _ca_file)
        read("MAIL_FROM", _text)
        read("PUBLIC_BASE_URL", _base_url)
        read("MAIL_RETRY_BASE_SECONDS", _positive_float)
        read("MAIL_MAX_ATTEMPTS", _positive_int)
        read("MAIL_MAX_PER_SECOND", _positive_float)
        read("MAIL_POLL_SECONDS", _positive_float)
        read("MAIL_TIMEOUT_SECONDS", _positive_float)
        read("PASSWORD_RESET_TTL_SECONDS", _positive_int)
        read("PASSWORD_RESET_MAX_PER_EMAIL", _positive_int)
        read("PASSWORD_RESET_MAX_PER_ADDRESS", _positive_int)
        read("PASSWORD_RESET_WINDOW_SECONDS", _positive_int)
        read("VERIFY_EMAIL_TTL_SECONDS", _positive_int)
        read("VERIFY_EMAIL_RESEND_MAX", _positive_int)
        read("VERIFY_EMAIL_RESEND_WINDOW_SECONDS", _positive_int)
        read("REQUIRE_VERIFIED_EMAIL", _boolean)

        if "poster_dir" not in values and "data_dir" in values:
            values["poster_dir"] = Path(str(values["data_dir"])) / "posters"
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 4 <= self.bcrypt_rounds <= 31:
            raise SettingsError(f"BCRYPT_ROUNDS must be between 4 and 31, got {self.bcrypt_rounds}")
        if self.pool_min_size > self.db_pool_max_size:
            raise SettingsError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        if self.max_hold_lifetime_seconds < self.hold_ttl_seconds:
            raise SettingsError("MAX_HOLD_LIFETIME_SECONDS must be at least HOLD_TTL_SECONDS")
        for name, window in (
            ("LOGIN_WINDOW_SECONDS", self.login_window_seconds),
            ("REGISTER_WINDOW_SECONDS", self.register_window_seconds),
            ("PASSWORD_RESET_WINDOW_SECONDS", self.password_reset_window_seconds),
            ("VERIFY_EMAIL_RESEND_WINDOW_SECONDS", self.verify_email_resend_window_seconds),
            ("VOUCHER_CHECK_WINDOW_SECONDS", self.voucher_check_window_seconds),
        ):
            if window > MAX_RATE_WINDOW_SECONDS:
                raise SettingsError(f"{name} must be at most {MAX_RATE_WINDOW_SECONDS} (a day)")
        for name, ceiling in (
            ("LOGIN_MAX_FAILURES_PER_EMAIL", self.login_max_failures_per_email),
            ("LOGIN_MAX_FAILURES_PER_ADDRESS", self.login_max_failures_per_address),
        ):
            if ceiling < self.login_max_failures:
                raise SettingsError(f"{name} must be at least LOGIN_MAX_FAILURES")
        if "@" not in parseaddr(self.mail_from)[1] or "\n" in self.mail_from:
            raise SettingsError(
                f"MAIL_FROM must be an address like Cinema <tickets@example.com>, "
                f"got {self.mail_from!r}"
            )
        largest_total = self.max_ticket_price * MAX_PRICE_MULTIPLIER * self.max_seats_per_hold
        if largest_total > MAX_STORED_AMOUNT:
            raise SettingsError(
                f"MAX_TICKET_PRICE x {MAX_PRICE_MULTIPLIER} (the largest seat multiplier) x "
                f"MAX_SEATS_PER_HOLD must be at most {MAX_STORED_AMOUNT} (numeric(10,2))"
            )
        if self.jwt_secret:
            check_jwt_secret(self.jwt_secret)
        elif not self.embedded:
            raise SettingsError(
                "JWT_SECRET must be set when DATABASE_URL is set "
                "(at least 32 random bytes, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )

    def with_jwt_secret(self) -> Settings:
        """The embedded demo keeps a generated secret under DATA_DIR so tokens survive restarts."""
        if self.jwt_secret:
            return self
        path = self.data_dir / "jwt_secret"
        if path.exists():
            secret = path.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            secret = secrets.token_urlsafe(48)
            path.write_text(secret)
            path.chmod(0o600)
        return _replace(self, jwt_secret=secret)


def check_jwt_secret(secret: str) -> None:
    if len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise SettingsError(f"JWT_SECRET must be at least {MIN_JWT_SECRET_BYTES} bytes long")
    if secret.strip().lower() in KNOWN_EXAMPLE_SECRETS:
        raise SettingsError("JWT_SECRET is a well-known example value; generate a random one")
    if len(set(secret)) < MIN_JWT_SECRET_DISTINCT_CHARACTERS:
        raise SettingsError(
            f"JWT_SECRET has fewer than {MIN_JWT_SECRET_DISTINCT_CHARACTERS} different "
            "characters; generate a random one"
        )


def _replace(settings: Settings, **changes: object) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)  # type: ignore[arg-type]
