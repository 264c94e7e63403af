"""Personal data in text: find it, replace it with stable placeholders, put it back.

Detectors are :class:`PiiPattern` values (a regular expression, an optional validator
such as a checksum, optional context words that must precede the match); the built-in
ones are in :mod:`govai_plugin.defaults.pii` and plugins add their own through the
``govai_register_pii_patterns`` hook. Check digits come from python-stdnum (a maintained
library of national identifier algorithms) rather than hand-written code.

:class:`Pseudonyms` holds the placeholders of one request: the same value always gets the
same placeholder (``[EMAIL_1]``, ``[ID_EE_1]``, ``[PERSON_2]``), so the model can still tell
two people apart, and :meth:`Pseudonyms.restore` puts the values back into its answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class PiiPattern:
    #: Placeholder stem: EMAIL, PHONE, IBAN, CARD, IP, DOB, ADDRESS, ID_EE, ...
    kind: str
    regex: re.Pattern[str]
    #: Returns True when the matched text really is this kind (e.g. its check digits hold).
    validate: Callable[[str], bool] | None = None
    #: When set, one of these words must occur within ``window`` characters before the match.
    context: re.Pattern[str] | None = None
    window: int = 40
    #: The regex group that holds the value (0: the whole match).
    group: int = 0
    #: Higher wins when two detections overlap (checksummed ids over loose patterns).
    priority: int = 0


@dataclass(frozen=True)
class Detection:
    kind: str
    start: int
    end: int
    value: str


def detect(text: str, patterns: Iterable[PiiPattern], names: Iterable[str] = ()) -> list[Detection]:
    """Non-overlapping detections, in text order. Names are matched as whole words, case-insensitively."""
    found: list[tuple[int, Detection]] = []
    for pattern in patterns:
        for match in pattern.regex.finditer(text):
            start, end = match.span(pattern.group)
            value = match.group(pattern.group)
            if start == end:
                continue
            if pattern.context is not None and not pattern.context.search(text[max(0, start - pattern.window):start]):
                continue
            if pattern.validate is not None:
                try:
                    if not pattern.validate(value):
                        continue
                except Exception:  # noqa: BLE001 - a validator that cannot parse the value says "no"
                    continue
            found.append((pattern.priority, Detection(pattern.kind, start, end, value)))
    for name in sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        for match in re.finditer(rf"(?<!\w){re.escape(name)}(?!\w)", text, flags=re.IGNORECASE):
            found.append((100, Detection("PERSON", match.start(), match.end(), match.group())))
    # Keep the highest priority, then the longest, of overlapping detections.
    found.sort(key=lambda item: (-item[0], -(item[1].end - item[1].start), item[1].start))
    kept: list[Detection] = []
    for _, detection in found:
        if all(detection.end <= k.start or detection.start >= k.end for k in kept):
            kept.append(detection)
    return sorted(kept, key=lambda d: d.start)


class Pseudonyms:
    """The placeholders of one request (question, case context, registry data)."""

    PLACEHOLDER = re.compile(r"\[([A-Z][A-Z0-9_]*?)_(\d+)\]")

    def __init__(self, mapping: dict[str, str] | None = None) -> None:
        self.values: dict[str, str] = dict(mapping or {})  # placeholder -> value
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}
        for placeholder, value in self.values.items():
            match = self.PLACEHOLDER.fullmatch(placeholder)
            if match:
                kind, number = match.group(1), int(match.group(2))
                self._by_value[(kind, _normal(value))] = placeholder
                self._counts[kind] = max(self._counts.get(kind, 0), number)

    def placeholder(self, kind: str, value: str) -> str:
        key = (kind, _normal(value))
        if key not in self._by_value:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            placeholder = f"[{kind}_{self._counts[kind]}]"
            self._by_value[key] = placeholder
            self.values[placeholder] = value
        return self._by_value[key]

    def restore(self, text: str) -> str:
        """Put the values back where the model kept a placeholder."""
        return self.PLACEHOLDER.sub(lambda m: self.values.get(m.group(0), m.group(0)), text)

    def __len__(self) -> int:
        return len(self.values)


def _normal(value: str) -> str:
    return re.sub(r"[\s\-./()]", "", value).casefold()
