"""Built-in output checks.

* Every citation marker must name a source in the prompt: markers like ``[7]`` when only
  three sources were given are removed and reported, so no citation points at nothing.
* Contact details the model writes (URLs, e-mail addresses, phone numbers) must appear in
  the sources or in ``ANSWERS.ALLOWED_CONTACTS``; others are masked and reported, so a
  model cannot send a citizen to an address no rule names. A URL under an address a source
  names (same site section) is kept. Placeholders of pseudonymised
  personal data (``[EMAIL_1]``) are not contact details here: they are the asker's own.
* Exfiltration: a link that carries a placeholder of personal data (``https://x.example/?q=[EMAIL_1]``,
  also percent-encoded) is removed whole, before the values are put back, so an injected
  instruction cannot make the answer send the asker's data to a third party.
* Prompt leakage: an answer that repeats the instructions (the system prompt or the fixed
  text of the use case's template, any eight words in a row) is withheld (severity
  ``error``), whatever made the model do it.
"""

from __future__ import annotations

import re
from typing import Any

from govai_plugin.conf import govai_settings
from govai_plugin.hooks import hookimpl
from govai_plugin.types import OutputFinding, SearchHit

CITATION = re.compile(r"\[(\d{1,3})\]")
CONTACTS = [
    ("url", re.compile(r"\b(?:https?://|www\.)[^\s<>()\[\]{}\"']+[^\s<>()\[\]{}\"'.,;:!?]", re.IGNORECASE), "[link removed]"),
    ("email", re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"), "[e-mail removed]"),
    ("phone", re.compile(r"(?<![\w+])(?:\+|00)[1-9][\d .()-]{6,18}\d(?!\w)|(?<!\w)\(?0\d{1,4}\)?[ .-]?\d{2,4}[ .-]?\d{2,4}(?!\w)"),
     "[phone number removed]"),
]


LINK_RUN = re.compile(r"(?:https?://|www\.)\S+|\]\([^)\s]*\)", re.IGNORECASE)
PLACEHOLDER_IN_LINK = re.compile(r"(?:\[|%5B)[A-Z][A-Z0-9_]*?_\d+(?:\]|%5D)", re.IGNORECASE)
LEAK_WORDS = 8


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _shingles(text: str, n: int = LEAK_WORDS) -> set[tuple[str, ...]]:
    words = _words(text)
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def leaked_instructions(answer: str, instructions: list[str], sources: list[SearchHit]) -> str | None:
    """The first run of ``LEAK_WORDS`` words the answer shares with the instructions (and no source)."""
    if not instructions:
        return None
    secret = set().union(*(_shingles(t) for t in instructions))
    shared = _shingles(answer) & secret
    if shared:
        shared -= set().union(*(_shingles(s.text) for s in sources)) if sources else set()
    return " ".join(min(shared)) if shared else None


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def _known(kind: str, value: str, haystack: str, source_phones: set[str], allowed: list[str]) -> bool:
    if kind == "phone":
        digits = _digits(value)
        return digits in source_phones or any(digits == _digits(a) for a in allowed if _digits(a))
    needle = value.lower().rstrip("/")
    if needle in haystack:
        return True
    # a page under an address a source or the allowlist names (same site section)
    bases = allowed + (re.findall(CONTACTS[0][1].pattern, haystack, re.IGNORECASE) if kind == "url" else [])
    return any(needle == b.lower().rstrip("/") or needle.startswith(b.lower().rstrip("/") + "/") for b in bases)


@hookimpl(trylast=True)
def govai_check_output(answer: str, sources: list[SearchHit], context: dict[str, Any]) -> list[OutputFinding]:
    findings: list[OutputFinding] = []
    text = answer
    leak = leaked_instructions(text, list((context or {}).get("instructions") or []), sources)
    if leak:
        return [OutputFinding(kind="instructions_leak", severity="error",
                              message="the answer repeats the assistant's instructions (eight or more words in a row); "
                                      "withheld")]
    exfiltrated: list[str] = []

    def strip_link(match: re.Match[str]) -> str:
        if PLACEHOLDER_IN_LINK.search(match.group(0)):
            exfiltrated.append(match.group(0))
            return "[link removed]" if not match.group(0).startswith("]") else "]"
        return match.group(0)

    text = LINK_RUN.sub(strip_link, text)
    if exfiltrated:
        findings.append(OutputFinding(kind="exfiltration", severity="warning", replacement_text=text,
                                      message=f"removed {len(exfiltrated)} link(s) carrying personal data placeholders"))
    invalid = sorted({int(n) for n in CITATION.findall(text) if not 1 <= int(n) <= len(sources)})
    if invalid:
        text = CITATION.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(sources) else "", text)
        text = re.sub(r"[ \t]+([.,;:!?])", r"\1", text)
        findings.append(OutputFinding(kind="invalid_citation", severity="warning", replacement_text=text,
                                      message=f"removed citation markers that point at no source: "
                                              f"{', '.join(f'[{n}]' for n in invalid)}"))
    haystack = "\n".join(s.text for s in sources).lower()
    phone_pattern = CONTACTS[2][1]
    source_phones = {_digits(m.group(0)) for s in sources for m in phone_pattern.finditer(s.text)}
    allowed = list(govai_settings.ANSWERS.get("ALLOWED_CONTACTS") or [])
    for kind, pattern, mask in CONTACTS:
        masked: list[str] = []

        def replace(match: re.Match[str]) -> str:
            value = match.group(0)
            if _known(kind, value, haystack, source_phones, allowed):
                return value
            masked.append(value)
            return mask

        text = pattern.sub(replace, text)
        if masked:
            findings.append(OutputFinding(kind=f"unverified_{kind}", severity="warning", replacement_text=text,
                                          message=f"masked {len(masked)} {kind}(s) that appear in no source: {masked[0]!r}"))
    return findings
