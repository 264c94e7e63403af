"""Built-in output check: every citation marker must name a source in the prompt.

Markers like ``[7]`` when only three sources were given are removed from the
answer and reported, so no citation points at nothing.
"""

from __future__ import annotations

import re
from typing import Any

from govai_plugin.hooks import hookimpl
from govai_plugin.types import OutputFinding, SearchHit

CITATION = re.compile(r"\[(\d{1,3})\]")


@hookimpl(trylast=True)
def govai_check_output(answer: str, sources: list[SearchHit], context: dict[str, Any]) -> list[OutputFinding]:
    invalid = sorted({int(n) for n in CITATION.findall(answer) if not 1 <= int(n) <= len(sources)})
    if not invalid:
        return []
    cleaned = CITATION.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(sources) else "", answer)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    return [
        OutputFinding(
            kind="invalid_citation",
            message=f"removed citation markers that point at no source: {', '.join(f'[{n}]' for n in invalid)}",
            severity="warning",
            replacement_text=cleaned,
        )
    ]
