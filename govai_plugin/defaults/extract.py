"""Built-in text extraction for .txt, .md, .html, .pdf, .docx and BEIR .jsonl corpora.

Libraries: pypdf (pure Python, maintained; handles encryption flags), python-docx,
lxml.html (already a dependency through zeep; parsed with network access off).
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from pathlib import PurePath
from typing import Any

from govai_plugin import safejson
from govai_plugin.conf import govai_settings
from govai_plugin.defaults.structure import blocks_from_plain_text, heading_level, paragraph_label
from govai_plugin.exceptions import ExtractionError
from govai_plugin.hooks import hookimpl
from govai_plugin.types import ExtractedDocument, ExtractionResult, SourceFile, TextBlock

MEDIA_TYPES = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".jsonl": "application/x-ndjson",
}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@hookimpl(trylast=True)
def govai_extract_text(source: SourceFile) -> ExtractionResult | None:
    extractor = _EXTRACTORS.get(source.extension)
    if extractor is None:
        return None
    if not source.content.strip():
        raise ExtractionError("the file is empty", kind="empty")
    result = extractor(source)
    for document in result.documents:
        if any("\x00" in block.text for block in document.blocks):
            raise ExtractionError("the text contains NUL characters (a binary file?)", kind="corrupt")
        if len(document.text) > govai_settings.INGESTION["MAX_TEXT_CHARS"]:
            raise ExtractionError(
                f"the extracted text has {len(document.text):,} characters, more than "
                f"GOVAI['INGESTION']['MAX_TEXT_CHARS'] ({govai_settings.INGESTION['MAX_TEXT_CHARS']:,})",
                kind="too_large",
            )
    if not result.documents and not result.errors:
        raise ExtractionError("no text could be extracted", kind="empty")
    return result


def _stem_title(name: str) -> str:
    stem = PurePath(name).stem
    return re.sub(r"[_-]+", " ", stem).strip() or name


def _decode(content: bytes) -> str:
    if b"\x00" in content[:8192]:
        raise ExtractionError("the file is binary, not text", kind="corrupt")
    for encoding in ("utf-8-sig", "utf-16") if content[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8-sig",):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    # Not UTF-8: an older file in the institution's legacy 8-bit encoding.
    encoding = govai_settings.INGESTION["LEGACY_ENCODING"]
    try:
        return content.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise ExtractionError(f"the text is neither UTF-8 nor {encoding}", kind="corrupt") from exc


def _single(source: SourceFile, title: str, blocks: list[TextBlock], metadata: dict[str, Any] | None = None,
            language: str | None = None) -> ExtractionResult:
    blocks = [b for b in blocks if b.text.strip()]
    if not any(b.kind == "paragraph" for b in blocks):
        raise ExtractionError("no text could be extracted", kind="empty")
    return ExtractionResult(
        [
            ExtractedDocument(
                title=title[:500],
                blocks=blocks,
                language=language,
                metadata=metadata or {},
                media_type=MEDIA_TYPES[source.extension],
            )
        ]
    )


# -- plain text ----------------------------------------------------------------


def _extract_txt(source: SourceFile) -> ExtractionResult:
    text = _decode(source.content)
    blocks = blocks_from_plain_text(text)
    first_heading = next((b.text for b in blocks if b.kind == "heading"), None)
    return _single(source, first_heading or _stem_title(source.name), blocks)


# -- Markdown ------------------------------------------------------------------

_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.S)
_FRONT_MATTER_KEYS = {"title", "language", "lang", "effective_from", "effective_to", "source", "audience", "document_type"}


def _extract_md(source: SourceFile) -> ExtractionResult:
    text = _decode(source.content).replace("\r\n", "\n")
    metadata: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        for line in match.group(1).splitlines():
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            if sep and key in _FRONT_MATTER_KEYS:
                metadata[key] = value.strip().strip("'\"")
        text = text[match.end():]
    blocks: list[TextBlock] = []
    paragraph: list[str] = []
    in_fence = False

    def flush() -> None:
        if paragraph:
            body = "\n".join(paragraph).strip()
            if body:
                blocks.append(TextBlock(body, "paragraph"))
            paragraph.clear()

    for line in text.split("\n"):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
            paragraph.append(line)
            continue
        heading = None if in_fence else _MD_HEADING.match(line)
        if heading:
            flush()
            blocks.append(TextBlock(heading.group(2).strip(), "heading", len(heading.group(1))))
        elif not in_fence and not line.strip():
            flush()
        else:
            paragraph.append(line.rstrip())
    flush()
    title = metadata.pop("title", None) or next((b.text for b in blocks if b.kind == "heading"), None)
    language = metadata.pop("language", None) or metadata.pop("lang", None)
    return _single(source, title or _stem_title(source.name), blocks, metadata, language)


# -- HTML ----------------------------------------------------------------------

_HTML_SKIP = {"script", "style", "noscript", "template", "head", "nav", "svg", "iframe", "object", "button", "form"}
_HTML_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_HTML_BLOCKS = {
    "p", "div", "li", "ul", "ol", "dl", "dt", "dd", "tr", "table", "section", "article", "main", "blockquote",
    "pre", "header", "footer", "aside", "figure", "figcaption", "address", "caption", "details", "summary", "body",
}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|font-size\s*:\s*0(?![.\d])", re.I)


def _is_hidden(el) -> bool:
    return (
        el.get("hidden") is not None
        or el.get("aria-hidden", "").lower() == "true"
        or bool(_HIDDEN_STYLE.search(el.get("style", "")))
    )


def _extract_html(source: SourceFile) -> ExtractionResult:
    import lxml.etree
    import lxml.html

    parser = lxml.html.HTMLParser(no_network=True, remove_comments=True, remove_pis=True, recover=True)
    try:
        root = lxml.html.document_fromstring(source.content, parser=parser)
    except (lxml.etree.ParserError, ValueError) as exc:
        raise ExtractionError(f"the HTML could not be parsed: {exc}", kind="corrupt") from exc
    title_el = root.find(".//title")
    page_title = " ".join(title_el.text_content().split()) if title_el is not None else ""
    # lxml elements without children are falsy: compare with None explicitly.
    body = next((el for el in (root.find(".//main"), root.find(".//body")) if el is not None), root)
    blocks: list[TextBlock] = []
    buffer: list[str] = []
    hidden = 0

    def flush() -> None:
        text = " ".join("".join(buffer).split())
        buffer.clear()
        if text:
            level = heading_level(text)
            blocks.append(TextBlock(text, "heading" if level else "paragraph", level))

    def walk(el) -> None:
        nonlocal hidden
        tag = el.tag if isinstance(el.tag, str) else ""
        tag = tag.lower()
        if not tag or tag in _HTML_SKIP or _is_hidden(el):
            if tag and tag not in _HTML_SKIP:
                hidden += 1
            if el.tail:
                buffer.append(el.tail)
            return
        if tag in _HTML_HEADINGS:
            flush()
            text = " ".join(el.text_content().split())
            if text:
                blocks.append(TextBlock(text, "heading", _HTML_HEADINGS[tag]))
            if el.tail:
                buffer.append(el.tail)
            return
        is_block = tag in _HTML_BLOCKS
        if is_block:
            flush()
        if tag == "br":
            buffer.append(" ")
        if tag in {"td", "th"} and "".join(buffer).strip():
            buffer.append(" | ")
        if el.text:
            buffer.append(el.text)
        for child in el:
            walk(child)
        if is_block:
            flush()
        if el.tail:
            buffer.append(el.tail)

    walk(body)
    flush()
    metadata = {"hidden_elements_removed": hidden} if hidden else {}
    language = root.get("lang") or None
    first_h1 = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    return _single(source, page_title or first_h1 or _stem_title(source.name), blocks, metadata, language)


# -- PDF -----------------------------------------------------------------------


def _extract_pdf(source: SourceFile) -> ExtractionResult:
    if not source.content.lstrip()[:5].startswith(b"%PDF"):
        raise ExtractionError("this is not a PDF file (no %PDF header)", kind="corrupt")
    with _pdf_stream_limits():
        return _read_pdf(source)


def _pdf_stream_limits():
    """pypdf's own per-stream decompression limits (75 MB by default), lowered to ours, for this call only."""
    import pypdf

    limit = govai_settings.INGESTION["MAX_UNPACKED_BYTES"] // 4
    return pypdf.apply_configuration(**{name: limit for name in _PDF_LIMITS})


_PDF_LIMITS = (
    "zlib_maximum_output_length", "lzw_maximum_output_length", "run_length_maximum_output_length",
    "brotli_maximum_output_length", "array_based_stream_maximum_output_length",
)


def _read_pdf(source: SourceFile) -> ExtractionResult:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, LimitReachedError, PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(source.content), strict=False)
        if reader.is_encrypted:
            # Owner-password-only PDFs open with an empty user password.
            try:
                if not reader.decrypt(""):
                    raise ExtractionError("the PDF is encrypted (password-protected)", kind="encrypted")
            except (FileNotDecryptedError, NotImplementedError, DependencyError) as exc:
                # DependencyError: AES encryption needs the optional "cryptography" package.
                raise ExtractionError("the PDF is encrypted (password-protected)", kind="encrypted") from exc
        info_title = (reader.metadata.title if reader.metadata else None) or ""
        blocks: list[TextBlock] = []
        for number, page in enumerate(reader.pages, start=1):
            blocks.extend(_pdf_page_blocks(page.extract_text() or "", number))
            # pypdf keeps every decoded stream it resolved: drop them page by page, so a file of
            # many pages of highly compressed streams does not add them all up in memory.
            reader.resolved_objects.clear()
    except ExtractionError:
        raise
    except LimitReachedError as exc:
        raise ExtractionError(f"the PDF holds a stream that unpacks to too much data ({exc})", kind="too_large") from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise ExtractionError(f"the PDF is damaged and could not be read ({type(exc).__name__}: {exc})", kind="corrupt") from exc
    if not any(b.kind == "paragraph" for b in blocks):
        raise ExtractionError("the PDF has no extractable text (a scan? OCR is not included)", kind="empty")
    first_heading = next((b.text for b in blocks if b.kind == "heading"), None)
    return _single(source, str(info_title).strip() or first_heading or _stem_title(source.name), blocks)


def _pdf_page_blocks(text: str, page: int) -> list[TextBlock]:
    """PDF text has no paragraph marks: break at headings, blank lines and short closing lines."""
    lines = [line.rstrip() for line in text.replace("\r", "\n").split("\n")]
    widths = sorted(len(line) for line in lines if line.strip())
    typical = widths[int(len(widths) * 0.8)] if widths else 0
    blocks: list[TextBlock] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append(TextBlock("\n".join(paragraph).strip(), "paragraph", 0, page))
            paragraph.clear()

    for line in lines:
        if not line.strip():
            flush()
            continue
        level = heading_level(line)
        if level:
            flush()
            blocks.append(TextBlock(line.strip(), "heading", level, page))
            continue
        if paragraph and paragraph[-1].endswith((".", ":", ";")) and paragraph_label(line.strip()):
            flush()  # "1. ... end." followed by "2. ..." starts a new numbered paragraph
        paragraph.append(line)
        if line.endswith((".", ":", ";")) and len(line) < 0.7 * typical:
            flush()
    flush()
    return blocks


# -- archives (DOCX) -----------------------------------------------------------

#: More parts than any real Word file has (they have tens, a few hundred with many images);
#: checked from the end-of-directory record before zipfile builds an entry per member.
MAX_ARCHIVE_MEMBERS = 10_000
#: zipfile reads the central directory by the size the end record declares, whatever the
#: count says: 10,000 entries with long names fit in 1 MiB (a Word file's take a few KB).
MAX_CENTRAL_DIRECTORY_BYTES = 1024 * 1024
_EOCD = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_READ_BLOCK = 64 * 1024


def check_archive(content: bytes) -> None:
    """Refuse a zip (DOCX) whose parts would cost more memory than the limits allow.

    Cheapest first: the end record (member count, central directory size, no ZIP64), the
    sizes and compression ratios the central directory declares (up to
    ``INGESTION.MAX_UNPACKED_BYTES``; zipfile never reads past a declared size, and a part
    that holds more fails its CRC check), then every XML part streamed through a parser that
    builds no tree and counts what python-docx's tree would hold (``INGESTION.MAX_XML_NODES``).
    Memory stays at one block.
    """
    import lxml.etree

    _check_end_record(content)
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = archive.infolist()
            _check_declared(members, govai_settings.INGESTION["MAX_UNPACKED_BYTES"])
            budget = _XmlBudget()
            for member in members:
                # Every part is read (a part that holds more than it declares fails its CRC check).
                _count_xml(archive, member, budget) if _is_xml(member.filename) else _drain(archive, member)
    except lxml.etree.XMLSyntaxError as exc:
        raise ExtractionError(f"the package is damaged: a part is not well-formed XML ({exc})", kind="corrupt") from exc
    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, EOFError, OSError, ValueError, zlib.error) as exc:
        # RuntimeError: an encrypted member; NotImplementedError: an unknown compression method.
        raise ExtractionError(f"the package is damaged: not a valid zip file ({type(exc).__name__}: {exc})", kind="corrupt") from exc


def _check_end_record(content: bytes) -> None:
    end = content.rfind(_EOCD, max(0, len(content) - 65_557))
    if end < 0 or end + 22 > len(content):
        raise ExtractionError("the package is damaged: not a valid zip file (no end of central directory)", kind="corrupt")
    if end >= 20 and content[end - 20 : end - 16] == _ZIP64_LOCATOR:
        raise ExtractionError("the package is a ZIP64 archive (over 65,535 parts or 4 GiB), which no Word file needs",
                              kind="too_large")
    count, directory_bytes = struct.unpack_from("<HI", content, end + 10)
    if count > MAX_ARCHIVE_MEMBERS:  # 0xFFFF: a ZIP64 count, more than any limit we allow
        raise ExtractionError(f"the package has more than {MAX_ARCHIVE_MEMBERS:,} parts", kind="too_large")
    if directory_bytes > MAX_CENTRAL_DIRECTORY_BYTES:
        raise ExtractionError(f"the package's directory is {directory_bytes:,} bytes, more than "
                              f"{MAX_ARCHIVE_MEMBERS:,} parts need", kind="too_large")


def _check_declared(members: list[zipfile.ZipInfo], limit: int) -> None:
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise ExtractionError(f"the package has more than {MAX_ARCHIVE_MEMBERS:,} parts", kind="too_large")
    declared = sum(m.file_size for m in members)
    if declared > limit:
        raise _unpacks_too_large(limit, f"its parts declare {declared:,} bytes")
    for m in members:
        _check_ratio(repr(m.filename), m.file_size, m.compress_size)
    _check_ratio("the package", declared, sum(m.compress_size for m in members))


def _check_ratio(name: str, size: int, compressed: int) -> None:
    ratio = govai_settings.INGESTION["MAX_COMPRESSION_RATIO"]
    if size > _RATIO_FLOOR and size > ratio * max(compressed, 1):
        raise ExtractionError(
            f"{name} is compressed {size // max(compressed, 1):,} to 1, more than "
            f"GOVAI['INGESTION']['MAX_COMPRESSION_RATIO'] ({ratio}): a zip bomb?",
            kind="too_large",
        )


#: Parts (and packages) smaller than this are never refused for their compression ratio.
_RATIO_FLOOR = 1024 * 1024


def _is_xml(name: str) -> bool:
    return name.lower().endswith((".xml", ".rels"))


def _count_xml(archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: _XmlBudget) -> None:
    """Stream one part through lxml with a counting target: no tree is built, nothing kept."""
    import lxml.etree

    budget.part = member.filename
    parser = lxml.etree.XMLParser(target=budget, resolve_entities=False, no_network=True, huge_tree=False)
    with archive.open(member) as stream:
        while block := stream.read(_READ_BLOCK):
            parser.feed(block)
    parser.close()


def _drain(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> None:
    with archive.open(member) as stream:
        while stream.read(_READ_BLOCK):
            pass


class _XmlBudget:
    """An lxml parser target that counts what python-docx's trees of all XML parts would hold.

    Nodes: elements, attributes, text runs, comments, processing instructions, namespace
    declarations (each costs up to ~270 bytes in lxml's tree; measured in docs/benchmarks.md);
    characters: text, attribute values and comments. Over ``INGESTION.MAX_XML_NODES`` nodes or
    ``INGESTION.MAX_TEXT_CHARS`` characters the package is refused. A DTD is refused outright
    (OOXML parts never have one).
    """

    def __init__(self) -> None:
        self.part, self.nodes, self.chars, self._in_text = "", 0, 0, False
        self.max_nodes = govai_settings.INGESTION["MAX_XML_NODES"]
        self.max_chars = govai_settings.INGESTION["MAX_TEXT_CHARS"]

    def _add(self, nodes: int, chars: int = 0) -> None:
        self.nodes += nodes
        self.chars += chars
        if self.nodes > self.max_nodes:
            raise ExtractionError(
                f"the document's XML has more than GOVAI['INGESTION']['MAX_XML_NODES'] ({self.max_nodes:,}) elements, "
                f"attributes and text runs (reached in {self.part!r}): too large to read within the memory bound",
                kind="too_large",
            )
        if self.chars > self.max_chars:
            raise ExtractionError(
                f"the document's XML holds more than GOVAI['INGESTION']['MAX_TEXT_CHARS'] ({self.max_chars:,}) "
                f"characters of text and attribute values (reached in {self.part!r})",
                kind="too_large",
            )

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        self._in_text = False
        self._add(1 + len(attrib), sum(map(len, attrib.values())))

    def end(self, tag: str) -> None:
        self._in_text = False

    def data(self, text: str) -> None:
        self._add(0 if self._in_text else 1, len(text))  # one text run may arrive in several calls
        self._in_text = True

    def comment(self, text: str) -> None:
        self._in_text = False
        self._add(1, len(text))

    def pi(self, target: str, data: str | None) -> None:
        self._in_text = False
        self._add(1, len(target) + len(data or ""))

    def start_ns(self, prefix: str | None, uri: str) -> None:
        self._add(1, len(uri))

    def doctype(self, *args: Any) -> None:
        raise ExtractionError(f"the package is damaged: {self.part!r} declares a DTD, which Word parts never do",
                              kind="corrupt")

    def close(self) -> None:
        return None


def _without_binary_parts(content: bytes) -> bytes:
    """The package with every part that is not XML (images, embedded files, fonts) emptied.

    python-docx loads every part a relationship reaches into memory; text needs only the XML.
    """
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as archive, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as text_only:
        for member in archive.infolist():
            text_only.writestr(member.filename, archive.read(member) if _is_xml(member.filename) else b"")
    return out.getvalue()


def _unpacks_too_large(limit: int, why: str) -> ExtractionError:
    return ExtractionError(
        f"the package unpacks to more than GOVAI['INGESTION']['MAX_UNPACKED_BYTES'] ({limit:,} bytes): {why}",
        kind="too_large",
    )


# -- DOCX ----------------------------------------------------------------------


def _extract_docx(source: SourceFile) -> ExtractionResult:
    if source.content.startswith(_OLE_MAGIC):
        raise ExtractionError(
            "the file is encrypted (password-protected) or an old binary .doc; save it as an unprotected .docx",
            kind="encrypted",
        )
    check_archive(source.content)  # before python-docx reads any part into memory
    try:
        import docx
        from docx.opc.exceptions import PackageNotFoundError

        document = docx.Document(io.BytesIO(_without_binary_parts(source.content)))
    except (zipfile.BadZipFile, PackageNotFoundError) as exc:
        raise ExtractionError("the DOCX is damaged: it is not a valid Word package", kind="corrupt") from exc
    except Exception as exc:
        # python-docx raises KeyError, ValueError, lxml errors... on damaged parts: all mean "cannot read".
        raise ExtractionError(f"the DOCX is damaged and could not be read ({type(exc).__name__})", kind="corrupt") from exc
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    blocks: list[TextBlock] = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            text = item.text.strip()
            if not text:
                continue
            style = (item.style.name if item.style is not None else "") or ""
            level = 0
            if style == "Title":
                level = 1
            elif style.startswith("Heading"):
                digits = "".join(c for c in style if c.isdigit())
                level = int(digits) if digits else 1
            else:
                level = heading_level(text)
            blocks.append(TextBlock(text, "heading" if level else "paragraph", level))
        elif isinstance(item, Table):
            for row in item.rows:
                cells = []
                for cell in row.cells:
                    value = " ".join(cell.text.split())
                    if value and (not cells or cells[-1] != value):  # merged cells repeat
                        cells.append(value)
                if cells:
                    blocks.append(TextBlock(" | ".join(cells), "paragraph"))
    title = (document.core_properties.title or "").strip()
    first_heading = next((b.text for b in blocks if b.kind == "heading"), None)
    language = (document.core_properties.language or "").strip() or None
    return _single(source, title or first_heading or _stem_title(source.name), blocks, language=language)


# -- BEIR corpus (JSONL) -------------------------------------------------------


def _extract_jsonl(source: SourceFile) -> ExtractionResult:
    text = _decode(source.content)
    documents: list[ExtractedDocument] = []
    errors: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            record = safejson.loads(line)
        except safejson.JSONTooDeep as exc:
            errors.append((where, str(exc)))
            continue
        except json.JSONDecodeError as exc:
            errors.append((where, f"not valid JSON ({exc.msg})"))
            continue
        if not isinstance(record, dict):
            errors.append((where, "a corpus line must be a JSON object"))
            continue
        key = record.get("_id")
        if not isinstance(key, (str, int)) or isinstance(key, bool) or str(key).strip() == "":
            errors.append((where, "missing '_id' (a non-empty string)"))
            continue
        key = str(key)
        body = record.get("text")
        if not isinstance(body, str) or not body.strip():
            errors.append((f"{where} (_id {key})", "missing 'text' (a non-empty string)"))
            continue
        title = record.get("title") or ""
        metadata = record.get("metadata") or {}
        if not isinstance(title, str) or not isinstance(metadata, dict):
            errors.append((f"{where} (_id {key})", "'title' must be a string and 'metadata' an object"))
            continue
        if key in seen:
            errors.append((f"{where} (_id {key})", "duplicate '_id' in this file"))
            continue
        seen.add(key)
        blocks = blocks_from_plain_text(body)
        if not blocks:
            errors.append((f"{where} (_id {key})", "no text"))
            continue
        language = metadata.get("language") if isinstance(metadata.get("language"), str) else None
        documents.append(
            ExtractedDocument(
                title=(title.strip() or key)[:500],
                blocks=blocks,
                key=key,
                language=language,
                metadata=metadata,
                media_type=MEDIA_TYPES[".jsonl"],
            )
        )
    if not documents and errors:
        where, message = errors[0]
        raise ExtractionError(f"no valid corpus record ({len(errors)} bad lines; first: {where}: {message})", kind="corrupt")
    return ExtractionResult(documents, errors)


_EXTRACTORS = {
    ".txt": _extract_txt,
    ".text": _extract_txt,
    ".md": _extract_md,
    ".markdown": _extract_md,
    ".html": _extract_html,
    ".htm": _extract_html,
    ".pdf": _extract_pdf,
    ".docx": _extract_docx,
    ".jsonl": _extract_jsonl,
}
