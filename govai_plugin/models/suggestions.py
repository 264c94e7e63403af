"""Case events from case-management systems, and the suggestions drafted for them."""

from __future__ import annotations

import uuid

from collections.abc import Iterable

from django.contrib.postgres.fields import ArrayField
from django.db import models

from govai_plugin.models.answers import AnswerJob


class CaseEvent(models.Model):
    """A signed event a case system sent (case created or updated, a decision taken).

    ``(system, event_id)`` is unique: a replayed event is refused, not processed twice.
    """

    class Outcome(models.TextChoices):
        RECEIVED = "received"
        PROCESSED = "processed"
        UNKNOWN_CASE = "unknown_case"
        FAILED = "failed"
        IGNORED = "ignored"

    system = models.CharField(max_length=64)
    event_id = models.CharField(max_length=200)
    event_type = models.CharField(max_length=64)
    case_ref = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RECEIVED)
    detail = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["system", "event_id"], name="govai_case_event_unique")]

    def __str__(self) -> str:
        return f"{self.system}:{self.event_id} {self.event_type} ({self.outcome})"


class _SourcesWithin(models.Func):
    """True when every element of a jsonb list of sources names a ``collection`` in a text[]."""

    output_field = models.BooleanField()
    arity = 2

    def as_sql(self, compiler, connection, **extra):
        (sources, sources_params), (slugs, slugs_params) = (compiler.compile(e) for e in self.get_source_expressions())
        sql = (f"NOT EXISTS (SELECT 1 FROM jsonb_array_elements({sources}) AS src "
               f"WHERE NOT (COALESCE(src->>'collection', '') = ANY({slugs})))")
        return sql, (*sources_params, *slugs_params)


class SuggestionQuerySet(models.QuerySet):
    def sources_within(self, slugs: Iterable[str]) -> SuggestionQuerySet:
        """Suggestions whose every source passage came from one of the collections ``slugs``.

        One without sources (an abstention before any passage was found) qualifies.
        """
        allowed = models.Value(sorted(slugs), output_field=ArrayField(models.TextField()))
        return self.filter(_SourcesWithin(models.F("answer_job__sources"), allowed))


class Suggestion(models.Model):
    """A draft for a case, grounded in the rules, for a person to accept, edit or reject."""

    class Status(models.TextChoices):
        DRAFTING = "drafting"  # the model is writing it
        DRAFT = "draft"  # ready for review
        ACCEPTED = "accepted"
        EDITED = "edited"
        REJECTED = "rejected"
        FAILED = "failed"  # no draft could be made (generation failed)

    class WriteBack(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"
        NOT_NEEDED = "not_needed"

    DECIDED = (Status.ACCEPTED, Status.EDITED, Status.REJECTED)

    objects = SuggestionQuerySet.as_manager()

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    system = models.CharField(max_length=64, help_text="the case system (GOVAI['CASES']['SYSTEMS'] name)")
    case_ref = models.CharField(max_length=500, db_index=True)
    event = models.OneToOneField(CaseEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="suggestion")
    answer_job = models.OneToOneField(AnswerJob, on_delete=models.PROTECT, related_name="suggestion")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFTING, db_index=True)
    #: Which registry fields went into the context (names only: the values are in the job's pseudonymised context).
    context_sources = models.JSONField(default=list)
    # review
    reviewer = models.CharField(max_length=200, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    final_text = models.TextField(blank=True)
    diff = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    decided_via = models.CharField(max_length=32, blank=True)  # api, case_system, widget
    #: A document it cited got a new version: a person should look again.
    needs_review = models.BooleanField(default=False)
    review_flag = models.TextField(blank=True)
    # write-back to the case system
    writeback = models.CharField(max_length=16, choices=WriteBack.choices, default=WriteBack.PENDING)
    writeback_attempts = models.PositiveSmallIntegerField(default=0)
    writeback_error = models.TextField(blank=True)
    external_ref = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.system}:{self.case_ref} {self.status}"

    @property
    def idempotency_key(self) -> str:
        """Sent with every write-back of this suggestion, so a retry never writes it twice."""
        return f"govai-suggestion-{self.uid}"
