"""Built-in input guard: the checks that need no configuration.

* C0 control characters (other than tab, line feed and carriage return) and
  DEL refuse the input: no genuine question contains them, and they carry
  terminal escapes and smuggled instructions.
* Bidirectional override characters are reported (not refused: right-to-left
  scripts use some of them legitimately), since they can make text read
  differently from how it is processed.

PII pseudonymisation and injection screening plug in through the same hook.
"""

from __future__ import annotations

import re
from typing import Any

from govai_plugin.hooks import hookimpl
from govai_plugin.types import GuardFinding

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BIDI_OVERRIDE = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


@hookimpl(trylast=True)
def govai_guard_input(text: str, context: dict[str, Any]) -> list[GuardFinding]:
    findings = []
    match = _CONTROL.search(text)
    if match:
        findings.append(
            GuardFinding(
                kind="control_characters",
                message=f"the text contains a control character (U+{ord(match.group()):04X})",
                start=match.start(),
                end=match.end(),
                block=True,
            )
        )
    match = _BIDI_OVERRIDE.search(text)
    if match:
        findings.append(
            GuardFinding(
                kind="bidi_override",
                message=f"the text contains a bidirectional override character (U+{ord(match.group()):04X})",
                start=match.start(),
                end=match.end(),
            )
        )
    return findings
