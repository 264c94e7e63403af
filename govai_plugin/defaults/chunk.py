"""Built-in structure-aware chunker.

1. Headings (Markdown/HTML/DOCX headings, or "Chapter III", "Article 17",
   "§ 5", "1.2 Eligibility" in plain text and PDF) open sections; each chunk
   stays inside one section and carries its heading path, e.g.
   "Chapter III > Article 17 > 1.".
2. A section that fits in ``size`` characters is one chunk. A longer one is
   packed paragraph by paragraph.
3. A paragraph longer than ``size`` is split at sentence ends, then at spaces,
   each piece repeating about ``overlap`` characters of the previous one.

Every chunk is an exact span of the document text: ``text[char_start:char_end]``.
"""

from __future__ import annotations

import re

from govai_plugin.defaults.structure import paragraph_label
from govai_plugin.hooks import hookimpl
from govai_plugin.types import ChunkDraft, ExtractedDocument

HEADING_SEPARATOR = " > "
_SENTENCE_END = re.compile(r"[.!?;:。](?=\s)")


@hookimpl(trylast=True)
def govai_chunk_document(document: ExtractedDocument, size: int, overlap: int) -> list[ChunkDraft]:
    return chunk_document(document, size, overlap)


def chunk_document(document: ExtractedDocument, size: int, overlap: int) -> list[ChunkDraft]:
    text = document.text
    offsets = document.block_offsets()
    chunks: list[ChunkDraft] = []
    stack: list[tuple[int, str]] = []
    section: list[int] = []

    title_key = " ".join(document.title.split()).casefold()

    def flush() -> None:
        if section:
            # The document title is shown beside every citation; do not repeat it as a heading.
            titles = [t for i, (_, t) in enumerate(stack) if i > 0 or t.casefold() != title_key]
            path = HEADING_SEPARATOR.join(titles)
            chunks.extend(_chunk_section(document, text, offsets, section, path, size, overlap))
            section.clear()

    for index, block in enumerate(document.blocks):
        if block.kind == "heading":
            flush()
            while stack and stack[-1][0] >= block.level:
                stack.pop()
            stack.append((block.level, " ".join(block.text.split())[:200]))
        else:
            section.append(index)
    flush()
    return chunks


def _chunk_section(document, text, offsets, indices, path, size, overlap) -> list[ChunkDraft]:
    # Pack whole paragraphs while they fit; split only paragraphs that do not.
    groups: list[list[int]] = []
    for index in indices:
        start, end = offsets[index]
        if groups:
            group_start = offsets[groups[-1][0]][0]
            if end - group_start <= size:
                groups[-1].append(index)
                continue
        groups.append([index])
    drafts: list[ChunkDraft] = []
    for group in groups:
        start, end = offsets[group[0]][0], offsets[group[-1]][1]
        labels = [label for i in group if (label := paragraph_label(document.blocks[i].text))]
        full_path = _with_labels(path, labels)
        page = document.blocks[group[0]].page
        if end - start <= size:
            drafts.append(ChunkDraft(text[start:end], full_path, start, end, page))
            continue
        for piece_start, piece_end in split_span(text, start, end, size, overlap):
            drafts.append(ChunkDraft(text[piece_start:piece_end], full_path, piece_start, piece_end, page))
    return drafts


def _with_labels(path: str, labels: list[str]) -> str:
    if not labels:
        return path
    label = labels[0] if len(labels) == 1 else f"{labels[0]}–{labels[-1]}"
    return f"{path}{HEADING_SEPARATOR}{label}" if path else label


def split_span(text: str, start: int, end: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """Cut ``text[start:end]`` into pieces of at most ``size`` characters.

    Cuts fall after a sentence end in the second half of the window if there is
    one, else at the last space, else hard at ``size``. Each next piece starts
    about ``overlap`` characters before the cut, at a word start.
    """
    pieces: list[tuple[int, int]] = []
    pos = start
    while pos < end:
        if end - pos <= size:
            pieces.append(_trim(text, pos, end))
            break
        limit = pos + size
        window = text[pos:limit]
        cut = None
        for match in _SENTENCE_END.finditer(window, size // 2):
            cut = pos + match.end()
        if cut is None:
            space = window.rfind(" ", size // 2)
            cut = pos + space if space > 0 else limit
        pieces.append(_trim(text, pos, cut))
        next_pos = max(cut - overlap, pos + 1)
        if overlap:
            # Start the overlap at a word boundary so no piece begins mid-word.
            space = text.find(" ", next_pos, cut)
            next_pos = space + 1 if space != -1 else cut
        while next_pos < end and text[next_pos].isspace():
            next_pos += 1
        pos = next_pos
    return [p for p in pieces if p[1] > p[0]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
