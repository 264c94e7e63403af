"""Request bodies for the API: JSON through the bounded reader, within Django's size limit."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from govai_plugin import safejson


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, reading through :func:`govai_plugin.safejson.loads`.

    Nesting deeper than ``safejson.MAX_DEPTH`` is refused (400) before Python's parser
    recurses, and a body larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (Django's limit for
    bodies that are not files) is refused (413) without reading past the limit.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(body) > limit:
            raise RequestDataTooBig(f"The request body is larger than {limit:,} bytes.")
        try:
            return safejson.loads(body.decode(encoding), parse_constant=strict_constant if self.strict else None)
        except safejson.JSONTooDeep:
            raise
        except (ValueError, LookupError) as exc:  # malformed JSON, or bytes not in the declared encoding
            raise ParseError(f"JSON parse error - {exc}") from None
