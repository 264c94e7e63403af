"""Every error govai-plugin raises derives from :class:`GovAIError`.

Errors that are worth retrying (a remote service that is down, slow or
returned a 5xx) derive from :class:`RetryableError`, so Celery tasks can retry
exactly those.
"""

from __future__ import annotations


class GovAIError(Exception):
    """Root of all govai-plugin errors."""


class RetryableError(GovAIError):
    """A transient failure of a remote part; the same call may succeed later."""


class ConfigurationError(GovAIError):
    """The GOVAI settings or the installed plugins cannot work together."""


class InvalidRequest(GovAIError):
    """The caller sent something we cannot act on (maps to HTTP 400)."""


class AccessDenied(GovAIError):
    """The caller may not use this collection or document."""


class NotFound(GovAIError):
    """The collection or document does not exist (or is not visible to the caller)."""


class IngestionError(GovAIError):
    """A document could not be ingested. ``source`` names the file (and record)."""

    reason = "invalid"

    def __init__(self, source: str, message: str) -> None:
        self.source = source
        self.message = message
        super().__init__(f"{source}: {message}")


class UnsupportedFormat(IngestionError):
    reason = "unsupported_format"


class EmptyDocument(IngestionError):
    reason = "empty"


class CorruptDocument(IngestionError):
    reason = "corrupt"


class EncryptedDocument(IngestionError):
    reason = "encrypted"


class DocumentTooLarge(IngestionError):
    reason = "too_large"


class ExtractionError(GovAIError):
    """Raised by an extractor plugin; the ingest service adds the file name.

    ``kind`` is one of ``corrupt``, ``empty``, ``encrypted``, ``too_large``,
    ``unsupported_format``.
    """

    def __init__(self, message: str, kind: str = "corrupt") -> None:
        self.kind = kind
        super().__init__(message)


class EmbeddingError(GovAIError):
    """The embedding model or service failed in a way retrying will not fix."""


class EmbeddingServiceUnavailable(RetryableError, EmbeddingError):
    """The remote embedding service is down, timed out or answered 5xx."""


class GenerationError(GovAIError):
    """The text-generation server answered with something unusable."""


class GenerationUnavailable(RetryableError, GenerationError):
    """The text-generation server is down, timed out or answered 5xx."""


class CaseSystemError(GovAIError):
    """A case system refused a request (a final error: retrying will not help)."""


class CaseSystemUnavailable(RetryableError, CaseSystemError):
    """A case system could not be reached, timed out or failed with a server error."""


class RegistryError(GovAIError):
    """A registry answered with a fault or something unreadable (final)."""


class RegistryUnavailable(RetryableError, RegistryError):
    """A registry could not be reached, timed out or failed with a server error."""


class SignatureInvalid(AccessDenied):
    """A webhook's signature or timestamp does not check out."""


class Replayed(InvalidRequest):
    """An event id that was already received."""
