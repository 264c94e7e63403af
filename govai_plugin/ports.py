"""Ports: what the services need from the outside, as Protocols. Adapters implement them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class CaseRecord:
    """A case as a case system describes it."""

    case_ref: str
    title: str = ""
    case_type: str = ""
    #: Field name -> value, as the case system gives them (before any allowlist).
    fields: dict[str, Any] = field(default_factory=dict)
    #: Documents attached to the case: [{"title": ..., "text": ...}]
    documents: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SuggestionPayload:
    """What is written back to the case: the draft and where each citation points."""

    suggestion_id: str
    status: str
    text: str
    label: str
    citations: list[dict[str, Any]]
    abstain_reason: str = ""
    review_url: str = ""


@dataclass
class CaseDecision:
    action: str  # "accept" | "edit" | "reject"
    reviewer: str
    text: str = ""
    reason: str = ""


@runtime_checkable
class CaseSystem(Protocol):
    """Read a case, attach a suggestion to it, read the caseworker's decision."""

    name: str

    def read_case(self, case_ref: str) -> CaseRecord:
        """Raise NotFound for an unknown case, RetryableError when the system is unreachable."""

    def attach_suggestion(self, case_ref: str, suggestion: SuggestionPayload, *, idempotency_key: str) -> str:
        """Write the suggestion to the case; the same ``idempotency_key`` must never write twice.
        Returns the case system's reference for what was written."""

    def read_decision(self, case_ref: str, external_ref: str) -> CaseDecision | None:
        """The caseworker's decision on a written suggestion, if the system records one."""


@runtime_checkable
class Registry(Protocol):
    """A registry lookup that returns only allowlisted fields."""

    name: str

    def lookup(self, case: CaseRecord) -> dict[str, Any]:
        """Allowlisted output fields for the case (empty if the case lacks the inputs)."""
