"""The structure-aware chunker: exact spans, heading paths, size and overlap."""

from __future__ import annotations

import random

from govai_plugin.defaults.chunk import chunk_document, split_span
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.types import ExtractedDocument, SourceFile, TextBlock
from tests.conftest import CORPUS


def chunks_of(path, size=1000, overlap=150):
    doc = get_hooks().extract_text(SourceFile(path.name, path.read_bytes(), path.suffix)).documents[0]
    return doc, chunk_document(doc, size, overlap)


def test_spans_are_exact_for_every_sample_document():
    for path in sorted(CORPUS.rglob("*.*")):
        doc, chunks = chunks_of(path)
        assert chunks, path
        for chunk in chunks:
            assert doc.text[chunk.char_start : chunk.char_end] == chunk.text


def test_regulation_heading_paths_name_chapter_article_and_paragraphs():
    _, chunks = chunks_of(CORPUS / "en" / "social-assistance-regulation.txt")
    paths = [c.heading_path for c in chunks]
    assert "CHAPTER II — EMERGENCY ASSISTANCE > Article 4 — Amount > 1.–3." in paths
    amount = next(c for c in chunks if "Article 4" in c.heading_path)
    assert "1,500 euros" in amount.text and "Article 5" not in amount.text


def test_document_title_is_not_repeated_in_heading_path():
    _, chunks = chunks_of(CORPUS / "en" / "housing-benefit-policy.md")
    assert "3. Income limit > 3.1–3.2" in [c.heading_path for c in chunks]
    assert not any(c.heading_path.startswith("Housing Benefit Policy") for c in chunks)


def test_sections_never_mix_in_one_chunk():
    _, chunks = chunks_of(CORPUS / "en" / "housing-benefit-policy.md", size=5000)
    # Even with room for everything, each numbered section is its own chunk.
    assert len([c for c in chunks if c.heading_path.startswith(("2.", "3.", "4."))]) == 3


def test_long_paragraph_is_split_with_overlap_at_word_boundaries():
    sentence = "The applicant must provide proof of income for every adult living in the household. "
    doc = ExtractedDocument("T", [TextBlock("Article 1", "heading", 4), TextBlock(sentence * 40)])
    chunks = chunk_document(doc, size=400, overlap=80)
    assert len(chunks) > 5
    for previous, current in zip(chunks, chunks[1:]):
        assert len(current.text) <= 400
        assert current.char_start < previous.char_end  # overlap
        assert doc.text[current.char_start - 1] == " "  # starts at a word
        assert current.heading_path == "Article 1"


def test_paragraphs_pack_until_size():
    blocks = [TextBlock(f"Paragraph {i} " + "word " * 30) for i in range(10)]
    doc = ExtractedDocument("T", blocks)
    chunks = chunk_document(doc, size=500, overlap=50)
    assert 1 < len(chunks) < 10
    assert all(len(c.text) <= 500 for c in chunks)
    assert " ".join(c.text for c in chunks).count("Paragraph") == 10  # nothing lost, nothing repeated


def test_split_span_random_texts_stay_within_size_and_cover_everything():
    rng = random.Random(7)
    for _ in range(200):
        words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(1, 30))) for _ in range(rng.randint(1, 400))]
        text = " ".join(w + (rng.choice([".", "", "", ";"])) for w in words)
        size = rng.randint(100, 600)
        overlap = rng.randint(0, size // 2 - 1)
        pieces = split_span(text, 0, len(text), size, overlap)
        assert all(0 < end - start <= size for start, end in pieces)
        assert pieces[0][0] == 0 and pieces[-1][1] == len(text.rstrip())
        for (s1, e1), (s2, e2) in zip(pieces, pieces[1:]):
            assert s2 <= e1 + 1 and s2 > s1  # contiguous or overlapping, always moving forward
