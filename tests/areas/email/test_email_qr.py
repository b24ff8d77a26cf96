"""The tickets' QR codes drawn by reservations/mail/qr.py: module for module what segno draws
(the same content, level M, mask 0), and readable as PNGs, segno's fallback included."""

from __future__ import annotations

import io
import random
import string

import segno
import zxingcpp
from PIL import Image

from reservations.mail import qr
from reservations.mail.render import qr_png

ALPHABET = string.ascii_letters + string.digits + "._-:/+= "


def test_every_version_draws_what_segno_draws() -> None:
    rng = random.Random(26)
    versions = set()
    for length in range(1, 214):  # versions 1 to 10, every length each holds
        content = "".join(rng.choice(ALPHABET) for _ in range(length))
        reference = segno.make(
            content, error="m", micro=False, mask=0, boost_error=False, mode="byte"
        )
        assert qr.matrix(content) == [bytes(row) for row in reference.matrix], length
        versions.add(reference.version)
    assert versions == set(range(1, 11))


def test_what_it_does_not_draw_is_left_to_segno() -> None:
    assert qr.matrix("é") is None  # not ASCII
    assert qr.matrix("x" * 214) is None  # past version 10


def test_the_png_reads_back() -> None:
    rng = random.Random(7)
    contents = [
        "k1.ABCDEFGH2345." + "".join(rng.choice(ALPHABET[:64]) for _ in range(86)),
        "x" * 300,  # segno draws it
        "Ticket é",  # segno draws it
    ]
    for content in contents:
        image = Image.open(io.BytesIO(qr_png(content)))
        assert image.mode == "1"
        (decoded,) = zxingcpp.read_barcodes(image)
        assert decoded.text == content
