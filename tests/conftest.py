"""Shared fixtures. The database is a real PostgreSQL with pgvector (the embedded
cluster, or GOVAI_DATABASE_URL); embeddings come from the real local model."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from rest_framework.test import APIClient

from govai_plugin.models import ApiClient, Collection
from govai_plugin.services.access import create_collection, grant
from govai_plugin.services.ingest import ingest_paths
from settings.celery import app as celery_app

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
CORPUS = FIXTURES / "corpus"
MALFORMED = FIXTURES / "malformed"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Request counts (API.RATE_LIMITS) live in the cache: each test starts from zero."""
    from django.core.cache import cache

    cache.clear()


def pytest_collection_modifyitems(items):
    # Every test that touches the database also runs in the system-server CI pass (-m db).
    for item in items:
        if "django_db" in item.keywords or "db" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.db)


@pytest.fixture(scope="session")
def sample(django_db_setup, django_db_blocker) -> Collection:
    """The sample corpus, ingested once for the session into collection 'sample'."""
    with django_db_blocker.unblock():
        collection = Collection.objects.filter(slug="sample").first() or create_collection("sample", "Sample")
        report = ingest_paths(collection, [CORPUS])
        assert not report.failed, [o.message for o in report.failed]
    return collection


@pytest.fixture
def collection(db) -> Collection:
    return create_collection("scratch", "Scratch")


@pytest.fixture
def api_client_factory(db):
    def make(name: str, read: list[Collection] = (), write: list[Collection] = (), **fields):
        client, key = ApiClient.create_with_key(name, **fields)
        for c in read:
            grant(client, c)
        for c in write:
            grant(client, c, write=True)
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        http.govai_client = client
        return http

    return make


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


def running_worker():
    """A real Celery worker (solo pool, the test queue) inside this process, for a ``with`` block."""
    return start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10, loglevel="WARNING")


@pytest.fixture
def worker(transactional_db):
    """A real Celery worker for the test's duration (the database is committed, so it sees the rows)."""
    with running_worker():
        yield
