"""Extraction of every supported format, and clear errors for bad files."""

from __future__ import annotations

import io
import os
import struct
import zipfile

import pytest

from govai_plugin.exceptions import ExtractionError
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.types import SourceFile
from tests.conftest import CORPUS, MALFORMED


def extract(path):
    return get_hooks().extract_text(SourceFile(path.name, path.read_bytes(), path.suffix.lower()))


W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def headings(doc):
    return [b.text for b in doc.blocks if b.kind == "heading"]


def test_markdown_front_matter_and_headings():
    doc = extract(CORPUS / "en" / "housing-benefit-policy.md").documents[0]
    assert doc.title == "Housing Benefit Policy"
    assert doc.language == "en"
    assert doc.metadata["effective_from"] == "2025-01-01"
    assert "3. Income limit" in headings(doc)
    assert "---" not in doc.text  # front matter is not text


def test_html_drops_scripts_navigation_and_hidden_text():
    doc = extract(CORPUS / "en" / "housing-benefit-faq.html").documents[0]
    assert doc.title == "Housing benefit – frequently asked questions"
    assert "How long does a decision take?" in headings(doc)
    assert "analytics" not in doc.text
    assert "Home" not in doc.text.split()  # <nav>
    assert "phone queue statistics" not in doc.text  # display:none
    assert doc.metadata["hidden_elements_removed"] == 1
    assert "Customer service point | Town Hall" in doc.text


def test_plain_text_regulation_structure():
    doc = extract(CORPUS / "en" / "social-assistance-regulation.txt").documents[0]
    assert "Article 4 — Amount" in headings(doc)
    assert "CHAPTER II — EMERGENCY ASSISTANCE" in headings(doc)


def test_pdf_pages_and_sections():
    doc = extract(CORPUS / "en" / "child-care-allowance-guidance.pdf").documents[0]
    assert doc.title == "Child Care Allowance - Guidance for Caseworkers"
    assert "Section 2 Amount" in headings(doc)
    assert all(b.page == 1 for b in doc.blocks)
    assert "150 euros per child per month" in doc.text


def test_docx_styles_and_tables():
    doc = extract(CORPUS / "en" / "benefit-application-procedure.docx").documents[0]
    assert doc.title == "Procedure for Processing Benefit Applications"
    assert "3.1 Four-eyes principle" in headings(doc)
    assert "Completeness check | 3 working days" in doc.text


def test_jsonl_corpus_keeps_good_records_and_names_bad_lines():
    result = extract(MALFORMED / "corpus-with-bad-lines.jsonl")
    assert [d.key for d in result.documents] == ["ok-1", "ok-2"]
    assert result.documents[1].metadata == {"topic": "parking"}
    wheres = [w for w, _ in result.errors]
    assert wheres[0] == "line 2" and any("line 4" in w for w in wheres) and any("no-text" in w for w in wheres)
    assert any("duplicate" in m for _, m in result.errors)


@pytest.mark.parametrize(
    "name, kind, words",
    [
        ("encrypted.pdf", "encrypted", "encrypted"),
        ("truncated.pdf", "corrupt", "damaged"),
        ("not-really.pdf", "corrupt", "not a PDF"),
        ("empty.txt", "empty", "empty"),
        ("whitespace-only.md", "empty", "empty"),
        ("headings-only.md", "empty", "no text"),
        ("corrupt.docx", "corrupt", "damaged"),
        ("encrypted.docx", "encrypted", "encrypted"),
        ("binary.txt", "corrupt", "binary"),
    ],
)
def test_bad_files_raise_clear_errors(name, kind, words):
    with pytest.raises(ExtractionError) as info:
        extract(MALFORMED / name)
    assert info.value.kind == kind
    assert words in str(info.value)


def test_unknown_extension_is_not_handled():
    from govai_plugin.exceptions import UnsupportedFormat

    with pytest.raises(UnsupportedFormat, match="xlsx"):
        extract(MALFORMED / "unsupported.xlsx")


def test_latin1_text_is_decoded():
    raw = "Tulot ja menot: päätös tehdään 30 päivässä.\n".encode("latin-1") * 3
    doc = get_hooks().extract_text(SourceFile("old.txt", raw, ".txt")).documents[0]
    assert "päätös" in doc.text


def test_text_limit(settings):
    settings.GOVAI = {"INGESTION": {"MAX_TEXT_CHARS": 100}}
    with pytest.raises(ExtractionError) as info:
        extract(CORPUS / "en" / "housing-benefit-policy.md")
    assert info.value.kind == "too_large"


def test_legacy_encoding_is_configurable(settings):
    raw = "Otsusega mittenõustumisel võib esitada vaide.\n".encode("cp1257")
    settings.GOVAI = {"INGESTION": {"LEGACY_ENCODING": "cp1257"}}
    doc = get_hooks().extract_text(SourceFile("vana.txt", raw, ".txt")).documents[0]
    assert "mittenõustumisel" in doc.text


# -- archive and stream bombs (the memory bound itself: tests/test_upload_limits.py) ----


def _docx_source(content: bytes) -> SourceFile:
    return SourceFile("bomb.docx", content, ".docx")


def _refusal(content: bytes) -> ExtractionError:
    with pytest.raises(ExtractionError) as info:
        get_hooks().extract_text(_docx_source(content))
    return info.value


def test_docx_part_compressed_beyond_the_ratio_is_refused():
    from tests.test_upload_limits import MiB, docx_bomb

    error = _refusal(docx_bomb(part_bytes=8 * MiB))
    assert error.kind == "too_large" and "MAX_COMPRESSION_RATIO" in str(error) and "image1.jpeg" in str(error)


def test_docx_whose_parts_declare_more_than_the_limit_is_refused(settings):
    settings.GOVAI = {"INGESTION": {"MAX_UNPACKED_BYTES": 500_000}}
    error = _refusal((CORPUS / "en" / "benefit-application-procedure.docx").read_bytes())
    assert error.kind == "too_large" and "declare" in str(error) and "MAX_UNPACKED_BYTES" in str(error)


def test_docx_whose_central_directory_lies_about_a_size_is_refused():
    from tests.test_upload_limits import MiB, docx_bomb

    content = bytearray(docx_bomb(part_bytes=64 * MiB))
    # The name's last occurrence is in the central directory, right after its 46-byte fixed header.
    entry = content.rfind(b"word/media/image1.jpeg") - 46
    assert content[entry : entry + 4] == b"PK\x01\x02" and struct.unpack_from("<I", content, entry + 24)[0] == 64 * MiB
    struct.pack_into("<I", content, entry + 24, 1024)  # declares 1 KiB: no ratio or total refusal
    error = _refusal(bytes(content))
    # zipfile stops at the declared size; the part then fails its CRC check.
    assert error.kind == "corrupt" and "damaged" in str(error) and "CRC" in str(error), error


def test_zip_with_too_many_members_is_refused_before_it_is_opened():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for n in range(10_001):
            archive.writestr(f"p/{n}", b"")
    error = _refusal(out.getvalue())
    assert error.kind == "too_large" and "10,000 parts" in str(error)


def _many_entries(count: int) -> bytearray:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for n in range(count):
            archive.writestr(f"part/{n:06d}.xml", b"")
    return bytearray(out.getvalue())


def test_zip_whose_end_record_lies_about_its_member_count_is_refused_by_its_directory_size():
    content = _many_entries(20_000)
    end = content.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", content, end + 8, 1, 1)  # "1 entry": zipfile would still read all 20,000
    assert len(zipfile.ZipFile(io.BytesIO(bytes(content))).infolist()) == 20_000
    error = _refusal(bytes(content))
    assert error.kind == "too_large" and "directory" in str(error), error


def test_zip64_end_record_is_refused():
    content = bytearray((CORPUS / "en" / "benefit-application-procedure.docx").read_bytes())
    end = content.rfind(b"PK\x05\x06")
    content[end:end] = b"PK\x06\x07" + bytes(16)  # a ZIP64 end-record locator, as before a ZIP64 end record
    error = _refusal(bytes(content))
    assert error.kind == "too_large" and "ZIP64" in str(error), error


def _docx_with_document_xml(body: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(CORPUS / "en" / "benefit-application-procedure.docx") as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            archive.writestr(info.filename, body if info.filename == "word/document.xml" else source.read(info))
    return out.getvalue()


def test_docx_with_more_xml_nodes_than_the_budget_is_refused(settings):
    # The sample's styles alone hold ~47,000 nodes (elements and attributes): parts python-docx parses.
    settings.GOVAI = {"INGESTION": {"MAX_XML_NODES": 40_000}}
    error = _refusal((CORPUS / "en" / "benefit-application-procedure.docx").read_bytes())
    assert error.kind == "too_large" and "MAX_XML_NODES" in str(error), error


def test_docx_whose_xml_holds_more_characters_than_the_text_limit_is_refused(settings):
    # 40 attributes of 100,000 random hex digits each (compressed 2 to 1): few nodes, 4 MB in the tree.
    attributes = " ".join(f'a{n}="{os.urandom(50_000).hex()}"' for n in range(40))
    settings.GOVAI = {"INGESTION": {"MAX_TEXT_CHARS": 1_000_000}}
    error = _refusal(_docx_with_document_xml(f'<w:document xmlns:w="{W_NS}" {attributes}/>'.encode()))
    assert error.kind == "too_large" and "MAX_TEXT_CHARS" in str(error), error


def test_docx_part_with_a_dtd_or_broken_xml_is_refused_as_corrupt():
    dtd = _refusal(_docx_with_document_xml(b'<!DOCTYPE d [<!ENTITY e "x">]><d/>'))
    assert dtd.kind == "corrupt" and "DTD" in str(dtd), dtd
    broken = _refusal(_docx_with_document_xml(b"<w:document><w:body></w:document>"))
    assert broken.kind == "corrupt" and "well-formed" in str(broken), broken


def test_jsonl_line_nested_too_deeply_is_a_bad_record_not_a_crash():
    content = b'{"_id": "ok", "text": "A rule."}\n' + b'{"_id": "deep", "text": ' + b"[" * 10_000 + b"]" * 10_000 + b"}\n"
    result = get_hooks().extract_text(SourceFile("deep.jsonl", content, ".jsonl"))
    assert [d.key for d in result.documents] == ["ok"]
    [(where, message)] = result.errors
    assert where == "line 2" and "deeper than 64" in message


def test_pdf_stream_that_unpacks_past_the_limit_is_refused():
    from tests.test_upload_limits import MiB, pdf_bomb

    # 70 MiB: under pypdf's own 75 MB default, over a quarter of MAX_UNPACKED_BYTES.
    with pytest.raises(ExtractionError) as info:
        get_hooks().extract_text(SourceFile("bomb.pdf", pdf_bomb(pages=1, stream_bytes=70 * MiB), ".pdf"))
    assert info.value.kind == "too_large" and "unpacks" in str(info.value)
