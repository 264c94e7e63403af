"""The audit trail: append-only events about requests and what was done for them.

Rows are never updated or deleted through the ORM (``save`` on an existing row and
``delete`` raise). Later work chains the rows by hash; the fields here are what
every event carries: who (actor and, for X-Road, the calling member), what
(action, outcome), on which object, and the request's own identifiers.
"""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    #: "api:<client>", "xroad:<INSTANCE/CLASS/MEMBER[/SUBSYSTEM]>", "local", ...
    actor = models.CharField(max_length=300)
    #: The end user the request was made for (X-Road-UserId), if the caller said.
    user_id = models.CharField(max_length=255, blank=True)
    #: e.g. "xroad.rest.ask", "xroad.soap.searchPassages".
    action = models.CharField(max_length=100, db_index=True)
    #: "ok", or the refusal's error code ("access_denied", "bad_header", ...).
    outcome = models.CharField(max_length=64)
    #: What the request touched: an answer job's id, a collection slug, ...
    object_ref = models.CharField(max_length=200, blank=True, db_index=True)
    #: Protocol identifiers (X-Road-Id, X-Road-Request-Id, issue, represented party, ...).
    details = models.JSONField(default=dict)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["actor", "created_at"], name="govai_audit_actor_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")
