"""The audit trail: append-only events, chained by hash so that tampering shows.

Rows are never updated or deleted through the ORM (``save`` on an existing row and
``delete`` raise). Each row's ``hash`` covers its sequence number, time, actor, action,
outcome, object, the digest of its personal payload (``user_id`` and ``details``) and the
previous row's hash. Because the chain covers the payload's digest rather than the payload,
erasing a person's data (GDPR) blanks the payload, keeps the digest and leaves the chain
verifiable; the erasure itself is a tombstone event. See :mod:`govai_plugin.services.audit`.
"""

from __future__ import annotations

from django.db import models


class AuditEvent(models.Model):
    #: Position in the chain (1, 2, 3, ...), assigned under a lock.
    seq = models.BigIntegerField(unique=True, null=True, editable=False)
    created_at = models.DateTimeField(db_index=True)
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
    #: sha256 of the canonical JSON of {"user_id", "details"}: kept when they are erased.
    payload_digest = models.CharField(max_length=64, editable=False, default="")
    prev_hash = models.CharField(max_length=64, editable=False, default="")
    hash = models.CharField(max_length=64, editable=False, default="")
    #: Set when the payload was erased (right to erasure); the digest stays.
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["seq"]
        indexes = [models.Index(fields=["actor", "created_at"], name="govai_audit_actor_time")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.outcome}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")
