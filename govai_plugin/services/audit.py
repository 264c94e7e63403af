"""Recording audit events (append-only)."""

from __future__ import annotations

from typing import Any

from govai_plugin.models import AuditEvent

_LIMITS = {"actor": 300, "user_id": 255, "action": 100, "outcome": 64, "object_ref": 200}


def record(action: str, *, actor: str, outcome: str = "ok", user_id: str = "", object_ref: str = "",
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append one event. Over-long values are cut to the column size, never refused:
    an audit write must not fail because a caller sent a long header."""
    values = {"action": action, "actor": actor, "outcome": outcome, "user_id": user_id, "object_ref": object_ref}
    values = {key: (value or "")[: _LIMITS[key]] for key, value in values.items()}
    return AuditEvent.objects.create(details=details or {}, **values)
