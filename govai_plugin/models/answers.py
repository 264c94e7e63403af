"""Answer jobs: a question, the passages it was answered from, and everything about the run."""

from __future__ import annotations

import uuid

from django.db import models

from govai_plugin.models.clients import ApiClient


class AnswerJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        ABSTAINED = "abstained"
        FAILED = "failed"

    FINAL = (Status.SUCCEEDED, Status.ABSTAINED, Status.FAILED)

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey(ApiClient, null=True, blank=True, on_delete=models.SET_NULL, related_name="answer_jobs")
    actor = models.CharField(max_length=200, blank=True)
    use_case = models.CharField(max_length=64)
    #: The question as sent to the model (after the input guards).
    question = models.TextField()
    case_context = models.TextField(blank=True)
    #: Collections searched, and the search parameters.
    collection_ids = models.JSONField(default=list)
    search = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    #: The numbered sources, as the prompt gave them: [1] is sources[0].
    sources = models.JSONField(default=list)
    prompt_messages = models.JSONField(default=list)
    prompt_version = models.CharField(max_length=64, blank=True)
    partial_text = models.TextField(blank=True)
    answer_text = models.TextField(blank=True)
    citations = models.JSONField(default=list)
    findings = models.JSONField(default=list)
    #: Per-sentence support in the cited passages (services/support.py); pseudonymised text.
    support = models.JSONField(default=dict, blank=True)
    abstain_reason = models.CharField(max_length=32, blank=True)
    abstain_detail = models.TextField(blank=True)
    #: P(yes) of the answerability step: the generation model's own estimate that the sources
    #: contain the answer (null when the step was skipped or is off).
    p_answerable = models.FloatField(null=True, blank=True)
    #: The answerability step: ``status`` (judged, skipped, off), ``p_yes``, ``threshold`` and
    #: where it came from (``threshold_source``: setting, calibrated, uncalibrated), ``model``, ``detail``.
    answerability = models.JSONField(default=dict, blank=True)
    #: Placeholder -> personal data it replaced in the question and context (GOVAI["PII"]).
    #: Needed to put the values back into the answer; nothing sent to the model holds them.
    pii_map = models.JSONField(default=dict, blank=True)
    model = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    retrieval_ms = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["client", "-created_at"], name="govai_job_client_idx")]

    def __str__(self) -> str:
        return f"{self.uid} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    def timings(self) -> dict[str, float | None]:
        """Seconds: queue wait, retrieval, time to first token, generation."""

        def seconds(a, b):
            return None if a is None or b is None else round((b - a).total_seconds(), 3)

        return {
            "retrieval": None if self.retrieval_ms is None else round(self.retrieval_ms / 1000, 3),
            "queue_wait": seconds(self.created_at, self.started_at),
            "time_to_first_token": seconds(self.started_at, self.first_token_at),
            "generation": seconds(self.started_at, self.finished_at),
        }
