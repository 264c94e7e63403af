"""Thresholds measured on labelled questions for one model (``manage.py govai_calibrate``)."""

from __future__ import annotations

from django.db import models


class Calibration(models.Model):
    """A measured threshold: ``kind`` names the setting it stands in for when that setting is
    ``"auto"`` (``ANSWERABILITY_THRESHOLD`` per generation model, ``MIN_SIMILARITY`` per
    embedding model), ``model`` the model it was measured with."""

    kind = models.CharField(max_length=64)
    model = models.CharField(max_length=300)
    value = models.FloatField()
    #: How it was measured: dataset, counts, target, the table of candidate thresholds.
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "model"], name="govai_calibration_kind_model")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.model}: {self.value:g}"
