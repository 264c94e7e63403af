"""The status of a large upload that a worker ingests (POST .../documents answered 202)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from govai_plugin.api import serializers as s
from govai_plugin.api.views import ERROR, GovAIView
from govai_plugin.services import ingest


class IngestionDetailView(GovAIView):
    @extend_schema(operation_id="ingestions_retrieve", responses={200: s.IngestionJobSerializer, 404: ERROR})
    def get(self, request, uid):
        """queued, running, done (each document's outcome) or failed (the reason); only the uploader sees it."""
        job = ingest.ingestion_job_for(request.user, uid)
        return Response(s.IngestionJobSerializer(job, context={"request": request}).data)
