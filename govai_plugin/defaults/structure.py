"""Recognising the structure of legal and policy text written without markup.

Used by the extractors for plain text, PDF and corpus records, and by the
chunker to label numbered paragraphs ("1.", "2)") in heading paths.
"""

from __future__ import annotations

import re

from govai_plugin.types import TextBlock

_ROMAN_OR_NUM = r"(?:[IVXLC]+|\d+[A-Za-z]?)"

# (level, pattern). Lower levels nest higher ones: Part > Chapter > Section > Article.
_HEADING_PATTERNS: list[tuple[int, re.Pattern[str]]] = [
    (1, re.compile(rf"^(?:part|osa|teil|partie|deel|parte|osasto)\s+{_ROMAN_OR_NUM}\b", re.I)),
    (1, re.compile(rf"^{_ROMAN_OR_NUM}\.?\s+(?:osa|osasto)\b", re.I)),
    (2, re.compile(rf"^(?:chapter|chapitre|kapitel|peatükk|luku|hoofdstuk|cap[íi]tulo|capitolo|kapittel)\s+{_ROMAN_OR_NUM}\b", re.I)),
    (2, re.compile(rf"^{_ROMAN_OR_NUM}\.?\s+(?:peatükk|luku|kapitel)\b", re.I)),
    (3, re.compile(r"^(?:section|abschnitt|jagu|afdeling|secci[óo]n|sezione|avsnitt)\s+\d+[A-Za-z]?\b", re.I)),
    (3, re.compile(r"^\d+\.?\s+(?:jagu)\b", re.I)),
    (4, re.compile(r"^(?:article|art\.|artikel|artikla|art[íi]culo|articolo|paragraaf|pykälä)\s*\d+[A-Za-z]?\b", re.I)),
    (4, re.compile(r"^§\s*\d+[A-Za-z]?\b")),
    (4, re.compile(r"^\d+[a-z]?\s*§")),
]
# "1. Purpose", "2.3 Eligibility": short numbered titles (no closing punctuation).
_NUMBERED_TITLE = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+[^\W\d_][^\n]{0,78}$")
# A paragraph's own number: "1. A person ...", "(2) The ...", "3) ...", "2.1 The ...".
PARAGRAPH_LABEL = re.compile(r"^\(?(\d{1,3}[a-z]?(?:\.\d{1,3})*)([.)]?)\s+\S")

MAX_HEADING_CHARS = 120


def _structural_level(line: str) -> int:
    """Level of a Part/Chapter/Section/Article/§ or numbered-title line, else 0."""
    for level, pattern in _HEADING_PATTERNS:
        if pattern.match(line):
            return level
    match = _NUMBERED_TITLE.match(line)
    if match and not line.endswith((".", ";", ":", ",")):
        return 3 + match.group(1).count(".")
    return 0


def heading_level(line: str) -> int:
    """The heading level of a line of unmarked text, or 0 if it is not a heading."""
    line = line.strip()
    if not line or len(line) > MAX_HEADING_CHARS or "\n" in line:
        return 0
    level = _structural_level(line)
    if level:
        return level
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 6 and len(line.split()) >= 2 and all(c.isupper() for c in letters) and len(line) <= 60:
        return 3
    return 0


def paragraph_label(text: str) -> str | None:
    """``"1."`` for a paragraph starting "1. ...", ``"(2)"`` for "(2) ...", else None."""
    match = PARAGRAPH_LABEL.match(text)
    if not match:
        return None
    number, closer = match.groups()
    if text.startswith("("):
        return f"({number})" if closer == ")" else None
    if not closer and "." not in number:  # "2024 was ..." is a year, not a label
        return None
    return f"{number}{closer}"


def is_title_line(line: str) -> bool:
    """A short line that names the heading above it ("Scope" under "Article 1")."""
    line = line.strip()
    return (
        0 < len(line) <= 60
        and not any(mark in line for mark in ".;:,")
        and not _structural_level(line)
        and paragraph_label(line) is None
        and line[0].isalpha()
    )


def blocks_from_plain_text(text: str, page: int | None = None) -> list[TextBlock]:
    """Paragraphs split at blank lines; a heading line at the top of a paragraph becomes its own block."""
    blocks: list[TextBlock] = []
    for raw in re.split(r"\n[ \t]*\n+", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [line.rstrip() for line in raw.strip("\n").split("\n")]
        lines = [line for line in lines if line.strip()]
        while lines:
            level = heading_level(lines[0])
            if level:
                title = lines[0].strip()
                lines = lines[1:]
                # "Article 1" over "Scope", "CHAPTER I" over "GENERAL PROVISIONS": one heading.
                if lines and is_title_line(lines[0]):
                    title = f"{title} — {lines[0].strip()}"
                    lines = lines[1:]
                blocks.append(TextBlock(title, "heading", level, page))
                continue
            blocks.append(TextBlock("\n".join(lines).strip(), "paragraph", 0, page))
            break
    return blocks
