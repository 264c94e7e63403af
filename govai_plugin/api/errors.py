"""Our errors as HTTP answers: ``{"error": <code>, "detail": <message>}``."""

from __future__ import annotations

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from govai_plugin.exceptions import (
    AccessDenied,
    ConfigurationError,
    GovAIError,
    IngestionError,
    InvalidRequest,
    NotFound,
    RetryableError,
)

_MAP = [
    (InvalidRequest, status.HTTP_400_BAD_REQUEST, "invalid_request"),
    (IngestionError, status.HTTP_422_UNPROCESSABLE_ENTITY, "ingestion_failed"),
    (NotFound, status.HTTP_404_NOT_FOUND, "not_found"),
    (AccessDenied, status.HTTP_403_FORBIDDEN, "forbidden"),
    (RetryableError, status.HTTP_503_SERVICE_UNAVAILABLE, "unavailable"),
    (ConfigurationError, status.HTTP_503_SERVICE_UNAVAILABLE, "misconfigured"),
]


def exception_handler(exc, context):
    if isinstance(exc, GovAIError):
        for cls, code, name in _MAP:
            if isinstance(exc, cls):
                return Response({"error": name, "detail": str(exc)}, status=code)
        return Response({"error": "error", "detail": str(exc)}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data and "error" not in response.data:
        code = getattr(exc, "default_code", "error")
        response.data = {"error": code, "detail": response.data["detail"]}
    elif response is not None and isinstance(response.data, (dict, list)) and "error" not in response.data:
        response.data = {"error": "invalid_request", "detail": "The request has invalid fields.", "fields": response.data}
    return response
