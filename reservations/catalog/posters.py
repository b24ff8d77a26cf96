"""Poster images: received as a stream, checked by decoding them, stored under generated names.

An upload is written chunk by chunk to a temporary file inside POSTER_DIR and refused (413) as
soon as it passes MAX_POSTER_BYTES: aiohttp's client_max_size does not apply to
`request.multipart()`, so the count is ours. Pillow then decodes the file in a thread; only
JPEG, PNG and WebP pass, by their content whatever the file is called, and never more than
MAX_POSTER_PIXELS pixels. A stored poster is named `<uuid4 hex>.<ext>`: no part of a stored
path comes from the client.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import uuid
from pathlib import Path

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from PIL import Image, UnidentifiedImageError

from ..errors import BadRequest
from ..settings import Settings
from .errors import (
    ImageTooLarge,
    InvalidImage,
    MissingPosterFile,
    NotMultipart,
    PosterTooLarge,
    UnsupportedImage,
)

# Pillow's format name -> (file extension, content type)
FORMATS = {
    "JPEG": ("jpg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}
CONTENT_TYPES = {extension: content_type for extension, content_type in FORMATS.values()}
POSTER_NAME = re.compile(r"^[0-9a-f]{32}\.(?:jpg|png|webp)$")
URL_PREFIX = "/posters/"
FIELD = "file"
CHUNK_BYTES = 64 * 1024
# Room for the boundaries and part headers around the file in a declared Content-Length.
MULTIPART_OVERHEAD_BYTES = 16 * 1024
CACHE_CONTROL = "public, max-age=31536000, immutable"


def poster_url(name: str | None) -> str | None:
    return URL_PREFIX + name if name else None


def poster_path(poster_dir: Path, name: str) -> Path | None:
    """Where a stored poster lives, or None for a name this service never generates."""
    if not POSTER_NAME.match(name):
        return None
    return poster_dir / name


def new_upload_file(poster_dir: Path) -> Path:
    """An empty temporary file beside the posters, so that storing it is an atomic rename."""
    poster_dir.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=poster_dir, prefix=".upload-", suffix=".part")
    os.close(handle)
    return Path(name)


async def receive_upload(request: web.Request, settings: Settings) -> Path:
    """Stream the multipart field `file` into a temporary file; its path."""
    if request.content_type != "multipart/form-data":
        raise NotMultipart(details={"content_type": request.content_type})
    limit = settings.max_poster_bytes
    too_large = PosterTooLarge(details={"max_bytes": limit})
    if (request.content_length or 0) > limit + MULTIPART_OVERHEAD_BYTES:
        raise too_large
    received = 0
    try:
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                raise MissingPosterFile(
                    details={"fields": {FIELD: ["Missing data for required field."]}}
                )
            if not isinstance(part, BodyPartReader):
                raise BadRequest(
                    "Nested multipart bodies are not accepted.", code="invalid_multipart"
                )
            if part.name == FIELD:
                break
            # Other fields are read and dropped, and count against the limit too.
            while chunk := await part.read_chunk(CHUNK_BYTES):
                received += len(chunk)
                if received > limit:
                    raise too_large
        loop = asyncio.get_running_loop()
        path = await loop.run_in_executor(None, new_upload_file, settings.poster_dir)
        try:
            file = await loop.run_in_executor(None, path.open, "wb")
            try:
                while chunk := await part.read_chunk(CHUNK_BYTES):
                    received += len(chunk)
                    if received > limit:
                        raise too_large
                    await loop.run_in_executor(None, file.write, chunk)
            finally:
                file.close()
        except BaseException:
            discard_file(path)
            raise
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        # aiohttp's multipart reader signals a malformed body (or part headers) this way.
        raise BadRequest(
            "The multipart body is malformed.",
            code="invalid_multipart",
            details={"reason": str(exc)},
        ) from None
    return path


def inspect_image(path: Path, max_pixels: int) -> str:
    """The file extension for the image at `path`, after decoding it entirely; raises the
    catalog's image errors otherwise. `max_pixels` is checked against the size the header
    declares, before any pixel is decoded (the app's limit: Pillow's own bomb guard, a
    process-wide setting, stays at its default). Blocking: run it in an executor."""
    allowed = list(FORMATS)
    try:
        with Image.open(path, formats=allowed) as image:
            image_format = image.format or ""
            width, height = image.size
            if width * height > max_pixels:
                raise ImageTooLarge(
                    details={"width": width, "height": height, "max_pixels": max_pixels}
                )
            image.verify()
        # verify() leaves the image unusable; decoding every pixel is a separate pass.
        with Image.open(path, formats=allowed) as image:
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(details={"max_pixels": max_pixels}) from None
    except UnidentifiedImageError:
        raise UnsupportedImage(
            details={"accepted": ["image/jpeg", "image/png", "image/webp"]}
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        # Pillow reports damaged files with any of these.
        raise InvalidImage(details={"reason": str(exc)[:200]}) from None
    if image_format not in FORMATS:
        raise UnsupportedImage(details={"detected_format": image_format})
    return FORMATS[image_format][0]


def store_image(poster_dir: Path, upload: Path, extension: str) -> str:
    """Move a checked upload to its generated name; the name."""
    name = f"{uuid.uuid4().hex}.{extension}"
    target = poster_dir / name
    os.replace(upload, target)
    target.chmod(0o644)
    return name


async def store_upload(upload: Path, settings: Settings) -> str:
    """Check the image at `upload` and store it; its poster file name. The upload is consumed
    (stored or removed) whatever happens."""
    loop = asyncio.get_running_loop()
    try:
        extension = await loop.run_in_executor(
            None, inspect_image, upload, settings.max_poster_pixels
        )
        return await loop.run_in_executor(None, store_image, settings.poster_dir, upload, extension)
    finally:
        discard_file(upload)


def discard_file(path: Path) -> None:
    """Remove a file if it is there. Called directly, also from cleanup code that must run
    when a request is cancelled: one unlink is too quick to be worth a thread."""
    path.unlink(missing_ok=True)


def remove_poster(poster_dir: Path, name: str | None) -> None:
    """Delete a stored poster; a name this service never generated is left alone."""
    path = poster_path(poster_dir, name) if name else None
    if path is not None:
        discard_file(path)
