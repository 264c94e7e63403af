"""Built-in rerank step: drop repeated passages.

The same paragraph often stands in several documents (an FAQ quoting the
regulation, one text in two collections). Keeping only its best-ranked copy
leaves room in the top-k for other evidence. No cross-encoder ships here
because none with weights is installable offline; a plugin can add one.
"""

from __future__ import annotations

from govai_plugin.hooks import hookimpl
from govai_plugin.types import SearchHit, SearchQuery


def _key(text: str) -> str:
    return " ".join(text.lower().split())


@hookimpl(trylast=True)
def govai_rerank(query: SearchQuery, hits: list[SearchHit]) -> list[SearchHit]:
    seen: set[str] = set()
    unique = []
    for hit in hits:
        key = _key(hit.text)
        if key in seen:
            continue
        seen.add(key)
        unique.append(hit)
    return unique
