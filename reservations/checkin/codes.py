"""Signed ticket codes: what a ticket's QR code holds, so that a scanner with no network can
tell a real ticket from a made-up one.

A signed code is `<kid>.<ticket code>.<signature>`: the key's name, the reservation's ticket
code, and the Ed25519 signature of `<kid>.<ticket code>` in base64url without padding (86
characters). About 110 characters in all: a QR code of version 7 or so at error correction M,
easy for a phone's camera. The signature is made from the ticket code whenever a QR code is
shown, so tickets booked before signing existed get signed codes too, and rotating the key
re-signs every ticket that is shown again.

Keys are named by `kid`. The first key of TICKET_SIGNING_KEYS signs; the others still verify
(codes already printed or in emails keep working while a rotation settles). A key taken out of
the list no longer verifies: its codes are refused as forged.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALGORITHM = "Ed25519"
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,16}$")
SIGNATURE_LENGTH = 86  # 64 bytes in base64url without padding
KEY_FILE = "ticket_signing_keys"  # under DATA_DIR, when TICKET_SIGNING_KEYS is not set
MAX_CODE_LENGTH = 200


class SigningKeyError(ValueError):
    """TICKET_SIGNING_KEYS (or the generated key file) cannot be read."""


class ForgedCode(Exception):
    """A code that looks signed but does not verify; `reason` says how it failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class TicketKey:
    kid: str
    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    def public_bytes(self) -> bytes:
        return self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    def seed(self) -> str:
        raw = self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return _b64(raw)

    @classmethod
    def generate(cls) -> TicketKey:
        return cls(secrets.token_hex(3), Ed25519PrivateKey.generate())


def parse_keys(text: str) -> list[TicketKey]:
    """`kid:seed` items (the seed: a 32-byte Ed25519 private key in base64url), separated by
    commas or lines; the first signs. Raises SigningKeyError naming what is wrong."""
    keys: list[TicketKey] = []
    for item in re.split(r"[,\n]", text):
        item = item.strip()
        if not item:
            continue
        kid, sep, seed = item.partition(":")
        if not sep or not KID_PATTERN.match(kid):
            raise SigningKeyError(
                "each key must be kid:seed, the kid 1 to 16 letters, digits, - or _"
            )
        try:
            raw = _unb64(seed.strip())
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise SigningKeyError(f"the key {kid!r} is not 32 bytes of base64url")
        if any(key.kid == kid for key in keys):
            raise SigningKeyError(f"the kid {kid!r} is named twice")
        keys.append(TicketKey(kid, Ed25519PrivateKey.from_private_bytes(raw)))
    if not keys:
        raise SigningKeyError("no key is given")
    return keys


def format_keys(keys: list[TicketKey]) -> str:
    return ",".join(f"{key.kid}:{key.seed()}" for key in keys)


def generated_keys(data_dir: Path) -> list[TicketKey]:
    """The embedded demo's keys, generated once under DATA_DIR (like its JWT secret) and kept,
    so that tickets shown before a restart still verify. Several workers starting at once
    agree: the file appears whole (a link of a finished file) or not at all."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        draft = data_dir / f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        draft.write_text(format_keys([TicketKey.generate()]) + "\n")
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return parse_keys(path.read_text())


class TicketSigner:
    """Signs ticket codes with the first key and verifies codes signed by any of them."""

    def __init__(self, keys: list[TicketKey]) -> None:
        if not keys:
            raise SigningKeyError("no key is given")
        self.keys = {key.kid: key for key in keys}
        self.active = keys[0]

    def qr_payload(self, ticket_code: str) -> str:
        """What the QR code of this ticket holds: `<kid>.<ticket code>.<signature>`. The one
        place that makes it, for every place that shows one (the ticket page, ticket.svg, the
        API's `qr_payload`, emails: `app[TICKET_SIGNER].qr_payload(ticket_code)`)."""
        signed = f"{self.active.kid}.{ticket_code}"
        return f"{signed}.{_b64(self.active.private_key.sign(signed.encode()))}"

    def ticket_code_of(self, code: str) -> str:
        """The ticket code a scanned code names. A bare ticket code (typed in at the door, no
        dot) is returned as it is, for the database to look up; a signed one must verify with
        one of the keys, or ForgedCode says why not."""
        code = code.strip()
        if "." not in code:
            return code
        signed, _, signature = code.rpartition(".")
        kid, sep, ticket_code = signed.partition(".")
        if (
            not sep
            or not KID_PATTERN.match(kid)
            or not ticket_code
            or len(signature) != SIGNATURE_LENGTH
        ):
            raise ForgedCode("malformed")
        key = self.keys.get(kid)
        if key is None:
            raise ForgedCode("unknown_key")
        try:
            raw = _unb64(signature)
            if _b64(raw) != signature:  # one spelling per signature: no altered twins
                raise ValueError("not canonical base64url")
            key.public_key.verify(raw, signed.encode())
        except (InvalidSignature, binascii.Error, ValueError):
            raise ForgedCode("bad_signature") from None
        return ticket_code

    def public_keys(self) -> list[dict[str, Any]]:
        """What GET /checkins/keys answers: each key's raw public key in base64url."""
        return [
            {
                "kid": key.kid,
                "algorithm": ALGORITHM,
                "public_key": _b64(key.public_bytes()),
                "active": key is self.active,
            }
            for key in self.keys.values()
        ]


def signer_for(configured: str, data_dir: Path) -> TicketSigner:
    """TICKET_SIGNING_KEYS when set, else the keys generated under DATA_DIR."""
    return TicketSigner(parse_keys(configured) if configured else generated_keys(data_dir))
