"""JSON from untrusted callers, with a bound on nesting.

Python's ``json`` parser recurses once per level: a body of 100,000 ``[`` raises
``RecursionError`` (a server error, not a client one), and anything that walks the
result afterwards recurses again. Every JSON body that reaches govai-plugin from
outside (the API, the X-Road REST provider, webhooks) is read through :func:`loads`,
which refuses nesting deeper than ``max_depth`` before the parser sees it.

The depth scan skips string literals in C (one regular expression) and counts
brackets in Python: linear in the number of brackets, a few milliseconds per
100,000.
"""

from __future__ import annotations

import json
import re
from typing import Any

from govai_plugin.exceptions import InvalidRequest

#: Deeper than any document this project exchanges (case payloads nest 4–6 levels).
MAX_DEPTH = 64

_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class JSONTooDeep(InvalidRequest, ValueError):
    """The JSON nests deeper than allowed."""


def check_depth(text: str, max_depth: int = MAX_DEPTH) -> None:
    level = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            level += 1
            if level > max_depth:
                raise JSONTooDeep(f"The JSON nests deeper than {max_depth} levels.")
        elif token in "]}":
            level -= 1


def loads(data: str | bytes | bytearray, max_depth: int = MAX_DEPTH, **kwargs: Any) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` with :class:`JSONTooDeep`.

    Malformed JSON raises ``json.JSONDecodeError`` (a ``ValueError``) as usual; bytes that
    are not UTF-8 raise ``UnicodeDecodeError`` (also a ``ValueError``).
    """
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    check_depth(text, max_depth)
    try:
        return json.loads(text, **kwargs)
    except RecursionError as exc:  # only with max_depth raised past the interpreter's limit
        raise JSONTooDeep("The JSON nests too deeply.") from exc
