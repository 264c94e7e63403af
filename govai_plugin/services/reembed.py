"""Re-embed stored chunks with the configured model, in place, without re-extracting documents.

Each chunk records which model made its vector (``Chunk.embedding_model``, the value of
:func:`govai_plugin.conf.embedding_signature`). A run embeds, batch by batch and in order of
id, every chunk whose record differs from the configured model, and commits each batch: an
interrupted run is resumed by running it again.

Same dimension: each batch overwrites ``embedding`` in place. Another dimension: a pgvector
column holds one dimension, so the new vectors go to a staging column ``embedding_next``
while ``embedding`` and its HNSW index keep serving the old model; when every chunk is
staged, one transaction builds the HNSW index on the staging column (searches go on, writes
wait), then swaps the columns and indexes (a short exclusive lock).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction

from govai_plugin.conf import embedding_signature, govai_settings
from govai_plugin.exceptions import ConfigurationError, EmbeddingError
from govai_plugin.hooks.manager import get_hooks
from govai_plugin.models import Chunk, Collection
from govai_plugin.services import audit
from govai_plugin.services.ingest import embedding_input

logger = logging.getLogger(__name__)

TABLE = "govai_plugin_chunk"
STAGING = "embedding_next"
INDEX = "govai_chunk_embedding_hnsw"
STAGING_INDEX = "govai_chunk_embedding_next_hnsw"
#: PostgreSQL refuses ALTER TABLE while deferred foreign-key checks of the same transaction are
#: pending (a caller that wrote chunks in its own transaction); run them now, as Django does.
IMMEDIATE = "SET CONSTRAINTS ALL IMMEDIATE"


@dataclass
class ReembedReport:
    signature: str
    #: Chunks re-embedded by this run.
    chunks: int = 0
    batches: int = 0
    #: Chunks still to do (0 when the run finished).
    remaining: int = 0
    #: The stored vectors' dimension changed (the columns were swapped).
    dimension_changed: bool = False


def column_dimensions(column: str = "embedding") -> int | None:
    """The pgvector dimension of a column of the chunk table, or None if it has no such column."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s AND NOT attisdropped",
            [TABLE, column],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _todo_sql(staging: bool, collection: Collection | None) -> tuple[str, list]:
    where = "c.embedding_model IS DISTINCT FROM %s"
    params: list = [embedding_signature()]
    if staging:
        where = f"({where} OR c.{STAGING} IS NULL)"
    if collection is not None:
        where += " AND c.collection_id = %s"
        params.append(collection.pk)
    return where, params


def pending(collection: Collection | None = None) -> int:
    """Chunks whose vector the configured model did not make."""
    staging = column_dimensions() != govai_settings.EMBEDDINGS["DIMENSIONS"]
    if staging and column_dimensions(STAGING) is None:
        return Chunk.objects.count()
    where, params = _todo_sql(staging, collection)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {TABLE} c WHERE {where}", params)
        return cursor.fetchone()[0]


def _prepare_staging(dimensions: int) -> None:
    """Create ``embedding_next vector(dimensions)``, replacing one left by a run for another dimension."""
    if column_dimensions(STAGING) == dimensions:
        return
    _drop_staging()
    with connection.cursor() as cursor:
        cursor.execute(IMMEDIATE)
        cursor.execute(f"ALTER TABLE {TABLE} ADD COLUMN {STAGING} vector({int(dimensions)})")
    logger.info("reembed_staging_column dimensions=%d", dimensions)


def _drop_staging() -> None:
    if column_dimensions(STAGING) is None:
        return
    with connection.cursor() as cursor:
        cursor.execute(IMMEDIATE)
        cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN {STAGING}")


def _next_batch(staging: bool, collection: Collection | None, after: int, size: int) -> list[tuple[int, str]]:
    where, params = _todo_sql(staging, collection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT c.id, d.title, c.heading_path, c.text FROM {TABLE} c "
            f"JOIN govai_plugin_document d ON d.id = c.document_id WHERE {where} AND c.id > %s ORDER BY c.id LIMIT %s",
            [*params, after, size],
        )
        return [(pk, embedding_input(title, heading, text)) for pk, title, heading, text in cursor.fetchall()]


def _write(rows: list[tuple[int, str]], column: str) -> None:
    vectors = get_hooks().embed_texts([text for _, text in rows], "document")
    if len(vectors) != len(rows):
        raise EmbeddingError(f"The embedding plugin returned {len(vectors)} vectors for {len(rows)} passages")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} AS c SET {column} = v.e::vector, embedding_model = %s "
            "FROM unnest(%s::bigint[], %s::text[]) AS v(id, e) WHERE c.id = v.id",
            [embedding_signature(), [pk for pk, _ in rows], [_literal(vector) for vector in vectors]],
        )


def _literal(vector: list[float]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector) + "]"


def _swap_columns() -> bool:
    """Make the staged vectors the served ones; False (nothing changed) if chunks arrived unstaged meanwhile."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(IMMEDIATE)
        cursor.execute(f"LOCK TABLE {TABLE} IN SHARE MODE")  # searches go on, writers wait
        where, params = _todo_sql(True, None)
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {TABLE} c WHERE {where})", params)
        if cursor.fetchone()[0]:
            return False
        index = next(i for i in Chunk._meta.indexes if i.name == INDEX)  # the model's HNSW parameters
        cursor.execute(
            f"CREATE INDEX {STAGING_INDEX} ON {TABLE} USING hnsw ({STAGING} {index.opclasses[0]}) "
            f"WITH (m = {int(index.m)}, ef_construction = {int(index.ef_construction)})"
        )
        cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")
        cursor.execute(f"ALTER TABLE {TABLE} DROP COLUMN embedding")
        cursor.execute(f"ALTER TABLE {TABLE} RENAME COLUMN {STAGING} TO embedding")
        cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding SET NOT NULL")
        cursor.execute(f"ALTER INDEX {STAGING_INDEX} RENAME TO {INDEX}")
    return True


def reembed(
    collection: Collection | None = None,
    *,
    batch_size: int = 64,
    max_batches: int | None = None,
    on_batch: Callable[[int], None] | None = None,
    actor: str = "cli",
) -> ReembedReport:
    """Re-embed the chunks the configured model did not make; see the module docstring.

    :param collection: only this collection's chunks (not allowed when the dimension changes:
        the column is shared by every collection).
    :param max_batches: stop after this many batches (the rest is left for the next run).
    :param on_batch: called with the number of chunks after each committed batch.
    :raises ConfigurationError: a dimension change limited to one collection, or a bad batch size.
    """
    if batch_size < 1:
        raise ConfigurationError("The batch size must be a positive number of chunks.")
    dimensions = govai_settings.EMBEDDINGS["DIMENSIONS"]
    staging = column_dimensions() != dimensions
    if staging and collection is not None:
        raise ConfigurationError(
            f"The stored vectors have {column_dimensions()} dimensions and the configured model {dimensions}: "
            "a dimension change re-embeds every collection, so run it without --collection."
        )
    if staging:
        _prepare_staging(dimensions)
    else:
        _drop_staging()  # left by an abandoned dimension change, if any
    report = ReembedReport(signature=embedding_signature(), dimension_changed=staging)
    while True:
        _run_batches(report, staging, collection, batch_size, max_batches, on_batch)
        if max_batches is not None and report.batches >= max_batches or not staging or _swap_columns():
            break
    report.remaining = pending(collection)
    if report.remaining == 0 and report.chunks:
        audit.record("embeddings.reembedded", actor=actor, object_ref=collection.slug if collection else "*",
                     details={"model": report.signature, "chunks": report.chunks, "dimension_changed": staging})
    logger.info("reembed_run model=%s chunks=%d batches=%d remaining=%d", report.signature, report.chunks,
                report.batches, report.remaining)
    return report


def _run_batches(report, staging, collection, batch_size, max_batches, on_batch) -> None:
    column = STAGING if staging else "embedding"
    after = 0
    while max_batches is None or report.batches < max_batches:
        rows = _next_batch(staging, collection, after, batch_size)
        if not rows:
            return
        _write(rows, column)
        after = rows[-1][0]
        report.chunks += len(rows)
        report.batches += 1
        if on_batch is not None:
            on_batch(len(rows))
