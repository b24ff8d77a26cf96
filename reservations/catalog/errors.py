"""The catalog's error codes, in one place because movies, showtimes and posters share them."""

from __future__ import annotations

from ..errors import Conflict, NotFound, PayloadTooLarge, Unprocessable, UnsupportedMediaType

# Shared with booking, whose seat changes raise it too.
from ..showtime_lock import ShowtimeNotFound as ShowtimeNotFound


class MovieNotFound(NotFound):
    code = "movie_not_found"
    message = "No movie has this id."


class MovieHasReservations(Conflict):
    code = "movie_has_reservations"
    message = "This movie has upcoming showtimes with confirmed reservations."


class TheaterNotFound(NotFound):
    code = "theater_not_found"
    message = "No theater has this id."


class TheaterNameTaken(Conflict):
    code = "theater_name_taken"
    message = "A theater with this name already exists."


class TheaterInUse(Conflict):
    code = "theater_in_use"
    message = "This theater has had showtimes; it cannot be deleted (rename it instead)."


class ShowtimeOverlap(Conflict):
    code = "showtime_overlap"
    message = "The theater is busy then: another showtime overlaps (cleaning time included)."


class StartInPast(Unprocessable):
    code = "start_in_past"
    message = "A showtime cannot start in the past."


class ShowtimeHasReservations(Conflict):
    code = "showtime_has_reservations"
    message = "This showtime has confirmed reservations; it cannot be moved."


class PosterTooLarge(PayloadTooLarge):
    code = "payload_too_large"
    message = "The poster is too large."


class NotMultipart(UnsupportedMediaType):
    code = "unsupported_media_type"
    message = "Send the poster as multipart/form-data with a field named file."


class MissingPosterFile(Unprocessable):
    code = "validation_error"
    message = "The multipart body has no field named file."


class UnsupportedImage(UnsupportedMediaType):
    code = "unsupported_image"
    message = "The file is not a JPEG, PNG or WebP image."


class InvalidImage(Unprocessable):
    code = "invalid_image"
    message = "The image is damaged or truncated."


class ImageTooLarge(Unprocessable):
    code = "image_too_large"
    message = "The image has too many pixels."
