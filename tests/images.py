"""Image files for the poster tests: real small images in each format, and bombs (small files
whose headers declare a size they never hold)."""

from __future__ import annotations

import io
import os
import struct
import zlib
from typing import Any

from PIL import Image


def image_bytes(
    image_format: str = "PNG", size: tuple[int, int] = (40, 60), noise: bool = False
) -> bytes:
    if noise:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header claims a size its few bytes never hold: a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _declaring(image_format: str, marker: bytes, offset: int, size: bytes) -> bytes:
    """A real 16x16 image whose four size bytes, `offset` after `marker`, are `size`."""
    data = image_bytes(image_format, size=(16, 16))
    at = data.index(marker) + offset
    return data[:at] + size + data[at + 4 :]


def jpeg_declaring(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) claims another size."""
    size = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return _declaring("JPEG", b"\xff\xc0", 5, size)


def webp_declaring(width: int, height: int) -> bytes:
    """A real small lossy WebP whose VP8 frame header claims another size (16383 at most)."""
    size = width.to_bytes(2, "little") + height.to_bytes(2, "little")
    return _declaring("WEBP", b"\x9d\x01\x2a", 3, size)


def stored_files(settings: Any) -> list[str]:
    """The files in the poster directory of these settings."""
    if not settings.poster_dir.exists():
        return []
    return sorted(os.listdir(settings.poster_dir))
