"""Request bodies as a Security Server sends them: with a Content-Length, or chunked.

The provider-side Security Server streams what it forwards (SOAP messages, REST
bodies) with ``Transfer-Encoding: chunked`` and no ``Content-Length``. A WSGI
server that decodes the chunks (gunicorn, uWSGI with ``chunked-input``) passes the
decoded body in ``wsgi.input`` and says so with ``wsgi.input_terminated``; Django
itself reads a body only up to ``CONTENT_LENGTH``, so it would see nothing. These
functions read either kind, never more than the limit plus one byte.
"""

from __future__ import annotations

import io

from django.http import HttpRequest


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than {limit:,} bytes.")


class LengthRequired(Exception):
    """A chunked body the WSGI server did not decode for us."""

    def __init__(self) -> None:
        super().__init__("The request body is chunked, and this web server does not pass chunked bodies on "
                         "(no wsgi.input_terminated); serve the portal with gunicorn or uWSGI (chunked-input), "
                         "see docs/xroad.md.")


def read(request: HttpRequest, limit: int) -> bytes:
    """The body, at most ``limit`` bytes; :class:`TooLarge` past it."""
    meta = request.META
    try:
        declared = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise TooLarge(limit)
    if declared:
        raw = request.read(limit + 1)
    elif meta.get("wsgi.input_terminated"):
        raw = meta["wsgi.input"].read(limit + 1)
    elif "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower():
        raise LengthRequired()
    else:
        raw = b""
    if len(raw) > limit:
        raise TooLarge(limit)
    return raw


def adopt(request: HttpRequest, limit: int) -> bytes:
    """:func:`read`, then hand the body to Django (and DRF) as if it had come with a Content-Length.

    Django caches a body it has read in ``_body``; DRF parses only when ``CONTENT_LENGTH``
    is set. Both are set to what was actually read.
    """
    raw = read(request, limit)
    request._body = raw
    request._stream = io.BytesIO(raw)
    request.META["CONTENT_LENGTH"] = str(len(raw))
    return raw
