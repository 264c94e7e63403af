"""Uploads that could exhaust the web process, and large uploads handed to a worker.

Bombs (a DOCX with a 1 GiB zero-filled part, a 512 MiB document.xml, a PDF of many
highly compressed pages) are built here and uploaded through the API in a child
process (a WSGI call with the body as a stream, as a server makes it); the child's
peak RSS (VmHWM, reset just before the upload) may exceed its RSS just before the
upload by at most 100 MiB. Uploads above INGESTION.ASYNC_ABOVE_BYTES are answered 202 and
ingested by a real Celery worker; the test polls the status URL.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import zipfile
import zlib
from collections.abc import Callable
from contextlib import contextmanager

import pytest
from celery import Celery
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from govai_plugin.models.knowledge import IngestionJob, IngestionUpload
from govai_plugin.services.access import create_collection
from govai_plugin.testing.waiting import wait_for
from settings.celery import app as celery_app
from tests.conftest import CORPUS, MALFORMED, ROOT, running_worker

pytestmark = pytest.mark.django_db(transaction=True)

MiB = 1024 * 1024
#: What an upload within the size limit may add to the process's peak memory.
GROWTH_BOUND_KIB = 100 * 1024
DOCX = CORPUS / "en" / "benefit-application-procedure.docx"
IMAGE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/image"


# -- bomb builders ------------------------------------------------------------------


def _write_zeros(archive: zipfile.ZipFile, name: str, size: int) -> None:
    """A zero-filled member written in blocks, so building it costs no memory."""
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w", force_zip64=True) as member:
        block = bytes(MiB)
        for _ in range(size // MiB):
            member.write(block)


def docx_bomb(*, part_bytes: int = 0, document_xml_bytes: int = 0) -> bytes:
    """The sample DOCX plus a zero-filled image part referenced from document.xml.rels,
    or with document.xml replaced by zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(DOCX) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/_rels/document.xml.rels" and part_bytes:
                rel = f'<Relationship Id="rIdBomb" Type="{IMAGE_REL}" Target="media/image1.jpeg"/>'
                data = data.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            if info.filename == "word/document.xml" and document_xml_bytes:
                _write_zeros(archive, info.filename, document_xml_bytes)
                continue
            archive.writestr(info.filename, data)
        if part_bytes:
            _write_zeros(archive, "word/media/image1.jpeg", part_bytes)
    return out.getvalue()


HEADER_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/header"
HEADER_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml"
W_NS = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def docx_with_headers(count: int, paragraph: Callable[[int], str]) -> bytes:
    """The sample DOCX plus ``count`` header parts of at most 1 MiB each (under the per-part ratio
    check), each filled with ``paragraph(n)`` and referenced from document.xml.rels, so python-docx
    parses every one of them."""
    head, tail = f'<w:hdr xmlns:w="{W_NS}">', "</w:hdr>"
    paragraphs, size, n = [], len(head) + len(tail), 0
    while size + len(paragraph(n)) <= MiB:
        paragraphs.append(paragraph(n))
        size, n = size + len(paragraphs[-1]), n + 1
    header = (head + "".join(paragraphs) + tail).encode()
    rels = "".join(f'<Relationship Id="rIdH{i}" Type="{HEADER_REL}" Target="header{i}.xml"/>' for i in range(count))
    types = "".join(f'<Override PartName="/word/header{i}.xml" ContentType="{HEADER_TYPE}"/>' for i in range(count))
    out = io.BytesIO()
    with zipfile.ZipFile(DOCX) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/_rels/document.xml.rels":
                data = data.replace(b"</Relationships>", rels.encode() + b"</Relationships>")
            if info.filename == "[Content_Types].xml":
                data = data.replace(b"</Types>", types.encode() + b"</Types>")
            archive.writestr(info.filename, data)
        for i in range(count):
            archive.writestr(f"word/header{i}.xml", header)
    return out.getvalue()


def long_policy_docx(paragraphs: int = 2000, rows: int = 100) -> bytes:
    """A large but ordinary document written by python-docx: headings, paragraphs of varied
    text with bold runs, and a table."""
    import random

    import docx

    words = (CORPUS / "en" / "housing-benefit-policy.md").read_text().split()
    rnd = random.Random(10)
    document = docx.Document()
    document.add_heading("Benefit handbook", level=0)
    for n in range(paragraphs):
        if n % 40 == 0:
            document.add_heading(f"Chapter {n // 40 + 1}", level=1)
        paragraph = document.add_paragraph(" ".join(rnd.choices(words, k=rnd.randint(8, 30))) + " ")
        paragraph.add_run(" ".join(rnd.choices(words, k=4))).bold = True
    table = document.add_table(rows=rows, cols=4)
    for row in table.rows:
        for cell in row.cells:
            cell.text = " ".join(rnd.choices(words, k=3))
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pdf_bomb(pages: int, stream_bytes: int) -> bytes:
    """A PDF whose every page has its own FlateDecode content stream of ``stream_bytes`` zeros."""
    packer = zlib.compressobj(9)
    stream = b"".join(packer.compress(bytes(MiB)) for _ in range(stream_bytes // MiB)) + packer.flush()
    font = "<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> >>"
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode()]
    for i in range(pages):
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources {font} /Contents {4 + 2 * i} 0 R >>".encode())
        objects.append(f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream + b"\nendstream")
    out, offsets = bytearray(b"%PDF-1.7\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# -- uploading in a child process and measuring it ------------------------------------

CHILD = r"""
import ctypes, json, sys, tempfile
import django
django.setup()
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.handlers.wsgi import WSGIHandler
from django.test import override_settings
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.test.utils import setup_test_environment
import docx, lxml.html, pypdf  # a running web process has imported these long ago
from govai_plugin.hooks.manager import get_hooks

setup_test_environment()
get_hooks().embed_texts(["a passage of about a thousand characters " * 25] * 32, "document")  # model loaded, one full batch run
from govai_plugin.services.language import detect
detect("Ein Absatz in irgendeiner Sprache, wie ihn jede Suche erkennt.", "document")  # the detector's model, loaded once per process
path, name, key, slug = sys.argv[1:5]
app = WSGIHandler()

def status_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))

def post(body_file, length):
    # What a WSGI server does: the body is a stream the request reads from, not a bytes copy.
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": f"/api/v1/collections/{slug}/documents", "SERVER_NAME": "testserver",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": body_file, "CONTENT_LENGTH": str(length),
               "CONTENT_TYPE": MULTIPART_CONTENT, "HTTP_AUTHORIZATION": f"Bearer {key}", "wsgi.errors": sys.stderr}
    status = []
    body = b"".join(app(environ, lambda code, headers, exc_info=None: status.append(int(code.split()[0]))))
    return status[0], json.loads(body)

def body_file(filename, content):
    spool = tempfile.TemporaryFile()
    spool.write(encode_multipart(BOUNDARY, {"file": SimpleUploadedFile(filename, content)}))
    length = spool.tell()
    spool.seek(0)
    return spool, length

with override_settings(GOVAI={**settings.GOVAI, "INGESTION": {"ASYNC_ABOVE_BYTES": 1 << 40}}):
    post(*body_file("warm-up.docx", b"PK"))  # the request path, warmed
    request_body = body_file(name, open(path, "rb").read())
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # freed heap back to the system: it would hide growth
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # peak RSS := current RSS (Linux), so the warm-up's own peak does not count
    before = status_kib("VmRSS:")
    code, answer = post(*request_body)
# VmHWM is the peak that ru_maxrss reports, minus what threads that exited before the reset had
# folded into ru_maxrss (the kernel keeps their peak there, out of clear_refs' reach).
peak = status_kib("VmHWM:")
print(json.dumps({"status": code, "body": answer, "before_kib": before, "peak_kib": peak}))
"""


@pytest.fixture
def uploader(api_client_factory, tmp_path):
    collection = create_collection("bombs")
    http = api_client_factory("bomber", write=[collection])
    key = http._credentials["HTTP_AUTHORIZATION"].split()[1]

    def upload(name: str, content: bytes) -> dict:
        path = tmp_path / name
        path.write_bytes(content)
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "settings.test", "GOVAI_TEST_DB_NAME": connection.settings_dict["NAME"]}
        child = subprocess.run([sys.executable, "-c", CHILD, str(path), name, key, "bombs"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=600)
        assert child.returncode == 0, child.stderr[-3000:]
        result = json.loads(child.stdout.strip().splitlines()[-1])
        result["growth_kib"] = result["peak_kib"] - result["before_kib"]
        print(f"{name}: {len(content):,} bytes uploaded, status {result['status']}, peak RSS growth {result['growth_kib'] / 1024:.1f} MiB")
        return result

    upload.collection = collection
    return upload


def test_docx_with_a_gigabyte_zero_filled_part_is_refused_within_the_memory_bound(uploader):
    bomb = docx_bomb(part_bytes=1024 * MiB)
    assert len(bomb) < 2 * MiB
    result = uploader("bomb.docx", bomb)
    assert result["status"] == 422, result
    [outcome] = result["body"]
    assert outcome["status"] == "failed" and outcome["reason"] == "too_large"
    assert "MAX_UNPACKED_BYTES" in outcome["message"] or "compressed" in outcome["message"]
    assert result["growth_kib"] < GROWTH_BOUND_KIB, result
    assert not uploader.collection.documents.exists()


def test_docx_with_a_512_mib_document_xml_is_refused_within_the_memory_bound(uploader):
    result = uploader("big-body.docx", docx_bomb(document_xml_bytes=512 * MiB))
    assert result["status"] == 422, result
    assert result["body"][0]["reason"] == "too_large"
    assert result["growth_kib"] < GROWTH_BOUND_KIB, result


def test_pdf_of_many_highly_compressed_pages_stays_within_the_memory_bound(uploader):
    # Each page's stream is under pypdf's own 75 MB limit; kept decoded, 60 of them add up to ~700 MB.
    result = uploader("pages.pdf", pdf_bomb(pages=60, stream_bytes=11 * MiB))
    assert result["status"] == 422, result
    assert result["body"][0]["reason"] in ("empty", "too_large")
    assert result["growth_kib"] < GROWTH_BOUND_KIB, result


def test_a_real_docx_is_still_read_within_the_memory_bound(uploader):
    result = uploader("procedure.docx", DOCX.read_bytes())
    assert result["status"] == 201, result
    assert result["body"][0]["status"] == "created"
    assert result["growth_kib"] < GROWTH_BOUND_KIB, result


def test_docx_with_many_headers_of_empty_paragraphs_is_refused_within_the_memory_bound(uploader):
    # 47 parts of 1 MiB of <w:p/> (~70 KB uploaded): python-docx's trees would take ~2 GiB.
    bomb = docx_with_headers(47, lambda n: "<w:p/>")
    assert len(bomb) < 200_000
    result = uploader("headers.docx", bomb)
    assert result["status"] == 422 and result["body"][0]["reason"] == "too_large", result
    assert result["growth_kib"] < GROWTH_BOUND_KIB, result


def test_docx_with_many_headers_that_pass_the_ratio_checks_is_refused_within_the_memory_bound(uploader):
    # Random revision ids compress ~4 to 1, so no ratio check fires: 12 headers of ~39,000
    # paragraphs hold ~930,000 elements and attributes (~230 MiB of trees before the node budget).
    bomb = docx_with_headers(12, lambda n: f'<w:p w:rsidR="{os.urandom(4).hex().upper()}"/>')
    result = uploader("ids.docx", bomb)
    assert result["status"] == 422, result
    assert result["body"][0]["reason"] == "too_large" and "MAX_XML_NODES" in result["body"][0]["message"], result
    assert result["growth_kib"] < GROWTH_BOUND_KIB, result


def test_a_large_legitimate_docx_passes_the_archive_limits_and_is_read_whole():
    # Extraction only: ingesting its ~300 passages is bounded by the embedding model, not by the
    # DOCX checks (docs/benchmarks.md, "Upload memory bound").
    from govai_plugin.hooks.manager import get_hooks
    from govai_plugin.types import SourceFile

    [document] = get_hooks().extract_text(SourceFile("handbook.docx", long_policy_docx(), ".docx")).documents
    assert document.title == "Benefit handbook" and len(document.blocks) == 1 + 50 + 2000 + 100  # title, chapters, text, rows
    assert sum(b.text.count(" | ") == 3 for b in document.blocks) == 100


# -- large uploads go to a worker -------------------------------------------------------


@pytest.fixture
def writer(api_client_factory, settings):
    settings.GOVAI = {**settings.GOVAI, "INGESTION": {"ASYNC_ABOVE_BYTES": 1000}}
    collection = create_collection("big")
    http = api_client_factory("big-writer", write=[collection])
    http.collection = collection
    return http


def poll(http, url: str) -> dict:
    def final():
        response = http.get(url)
        assert response.status_code == 200, response.content
        return response.json() if response.json()["status"] in ("done", "failed") else None

    return wait_for(final, what=f"the ingestion at {url} to finish")


def post_file(http, name: str, content: bytes, **fields):
    return http.post("/api/v1/collections/big/documents", {"file": SimpleUploadedFile(name, content), **fields}, format="multipart")


def test_a_large_upload_is_queued_with_202_and_a_worker_ingests_it(writer, transactional_db):
    body = (CORPUS / "en" / "housing-benefit-policy.md").read_bytes()
    assert len(body) > 1000
    response = post_file(writer, "policy.md", body, language="en", metadata=json.dumps({"audience": "staff"}))
    assert response.status_code == 202, response.content
    job = response.json()
    assert job["status"] == "queued" and response["Location"] == job["url"] and job["url"].endswith(f"/api/v1/ingestions/{job['id']}")
    # The bytes wait in the database (a worker on another machine reads them), nothing is ingested yet.
    assert bytes(IngestionUpload.objects.get(job__uid=job["id"]).content) == body
    assert not writer.collection.documents.exists()
    with running_worker():
        done = poll(writer, job["url"])
    assert done["status"] == "done", done
    [outcome] = done["outcomes"]
    assert outcome["status"] == "created" and outcome["chunks"] > 0 and outcome["version"] == 1
    document = writer.get(f"/api/v1/documents/{outcome['document']}").json()
    assert document["source_key"] == "policy.md" and document["metadata"]["audience"] == "staff"
    assert document["language"] == "en"
    assert not IngestionUpload.objects.filter(job__uid=job["id"]).exists()


def test_a_corrupt_large_upload_fails_with_its_reason(writer, worker):
    corrupt = (MALFORMED / "corrupt.docx").read_bytes() * 2
    response = post_file(writer, "broken.docx", corrupt)
    assert response.status_code == 202, response.content
    failed = poll(writer, response["Location"])
    assert failed["status"] == "failed" and failed["reason"] == "corrupt" and "damaged" in failed["error"]
    assert failed["outcomes"][0]["status"] == "failed"
    assert not writer.collection.documents.exists() and not IngestionUpload.objects.exists()


def test_a_small_upload_stays_synchronous(writer):
    response = post_file(writer, "tiny.md", b"# Tiny\n\nA short rule.\n")
    assert response.status_code == 201 and response.json()[0]["status"] == "created"
    assert not IngestionJob.objects.exists()


def test_unknown_and_other_clients_jobs_are_404_json(writer, api_client_factory):
    response = post_file(writer, "policy.md", (CORPUS / "en" / "housing-benefit-policy.md").read_bytes())
    assert response.status_code == 202
    other = api_client_factory("other", write=[writer.collection])
    for http, url in ((other, response["Location"]), (writer, "/api/v1/ingestions/00000000-0000-4000-8000-000000000000")):
        missing = http.get(url)
        assert missing.status_code == 404 and missing.json()["error"] == "not_found", missing.content
    assert writer.get(response["Location"]).status_code == 200


def test_a_docx_at_the_upload_limit_stays_within_the_memory_bound(uploader):
    # 24 MiB of incompressible image data: everything python-docx reads is really there.
    out = io.BytesIO()
    with zipfile.ZipFile(DOCX) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "word/_rels/document.xml.rels":
                rel = f'<Relationship Id="rIdPhoto" Type="{IMAGE_REL}" Target="media/image1.jpeg"/>'
                data = data.replace(b"</Relationships>", rel.encode() + b"</Relationships>")
            archive.writestr(info.filename, data)
        archive.writestr("word/media/image1.jpeg", os.urandom(24 * MiB))
    result = uploader("photos.docx", out.getvalue())
    assert result["status"] == 201, result
    assert result["growth_kib"] < GROWTH_BOUND_KIB, result


@contextmanager
def broker_down(tmp_path):
    """The task queue unreachable: the current Celery app points at a socket nothing listens on."""
    down = Celery("down", broker=f"redis+socket://{tmp_path / 'no-broker.sock'}", set_as_current=False)
    down.set_current()
    try:
        yield
    finally:
        celery_app.set_current()


def test_an_upload_the_queue_cannot_take_fails_with_queue_unavailable(writer, tmp_path):
    with broker_down(tmp_path):
        response = post_file(writer, "policy.md", (CORPUS / "en" / "housing-benefit-policy.md").read_bytes())
    assert response.status_code == 202, response.content
    job = writer.get(response["Location"]).json()
    assert job["status"] == "failed" and job["reason"] == "queue_unavailable" and "upload the file again" in job["error"], job
    assert not IngestionUpload.objects.exists() and not writer.collection.documents.exists()


def test_a_job_whose_task_was_lost_is_requeued_by_the_command(writer, worker):
    # A lost task: the job and its bytes are stored, but nothing was ever sent to the broker.
    body = (CORPUS / "en" / "housing-benefit-policy.md").read_bytes()
    job = IngestionJob.objects.create(collection=writer.collection, name="policy.md", size_bytes=len(body))
    IngestionUpload.objects.create(job=job, content=body)
    IngestionJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(minutes=30))
    out = io.StringIO()
    call_command("govai_ingest", "--stale-jobs", "10", "--requeue", stdout=out)
    assert str(job.uid) in out.getvalue() and "1 " in out.getvalue(), out.getvalue()
    done = wait_for(lambda: IngestionJob.objects.filter(pk=job.pk, status__in=IngestionJob.FINAL).first(),
                    what="the requeued job to finish")
    assert done.status == "done" and done.outcomes[0]["status"] == "created", done.outcomes
    assert writer.collection.documents.get().source_key == "policy.md"


def test_a_small_file_with_a_long_text_is_queued_not_embedded_in_the_request(writer, worker, settings):
    # 40 kB of text: under ASYNC_ABOVE_BYTES, but more passages than SYNC_MAX_PASSAGES.
    settings.GOVAI = {**settings.GOVAI, "INGESTION": {"ASYNC_ABOVE_BYTES": 1024 * 1024, "SYNC_MAX_PASSAGES": 8}}
    body = "\n\n".join(f"Section {i}. An applicant for the housing benefit files form {i} with the rent contract and "
                       f"the income statements of every adult in the household; the department checks each item in turn."
                       * 3 for i in range(120)).encode()
    response = post_file(writer, "long-rules.txt", body)
    assert response.status_code == 202, response.content
    assert not writer.collection.documents.exists()  # nothing was embedded in the request
    done = poll(writer, response["Location"])
    assert done["status"] == "done" and done["outcomes"][0]["chunks"] > 8, done
    # At the budget it stays in the request.
    settings.GOVAI = {**settings.GOVAI, "INGESTION": {"ASYNC_ABOVE_BYTES": 1024 * 1024, "SYNC_MAX_PASSAGES": 1000}}
    again = post_file(writer, "long-rules-2.txt", body + b"\n\nOne more line.")
    assert again.status_code == 201 and again.json()[0]["chunks"] > 8


def test_a_long_legitimate_docx_is_handed_to_a_worker_within_the_memory_bound(uploader):
    # ~300 passages: embedding them in the web process grew it by ~350 MiB (the model's working
    # memory per batch, kept by the allocator); now the request extracts, counts and queues.
    result = uploader("handbook.docx", long_policy_docx())
    assert result["status"] == 202 and result["body"]["status"] == "queued", result
    assert result["growth_kib"] < GROWTH_BOUND_KIB, result
