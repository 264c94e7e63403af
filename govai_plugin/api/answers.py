"""Answer endpoints: ask (202 + job URL, or wait), get a job, stream it as server-sent events."""

from __future__ import annotations

import json
import time

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from govai_plugin.api import serializers as s
from govai_plugin.api.parsers import SafeJSONParser
from govai_plugin.api.schema import SSE_EVENT
from govai_plugin.api.views import ERROR, GovAIView, _valid
from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import InvalidRequest, NotFound
from govai_plugin.models import AnswerJob
from govai_plugin.services.answers import ask

MAX_WAIT = 60.0
POLL = 0.1


def _own_job(request, uid) -> AnswerJob:
    job = AnswerJob.objects.filter(uid=uid, client=request.user).first()
    if job is None:
        raise NotFound("No answer job of yours has this id.")
    return job


class AnswerListView(GovAIView):
    parser_classes = [SafeJSONParser]
    throttle_scope = {"POST": "ask"}

    @extend_schema(
        operation_id="answers_create",
        request=s.AnswerRequestSerializer,
        parameters=[OpenApiParameter("wait", {"type": "number", "minimum": 0, "maximum": MAX_WAIT}, description=f"Seconds (≤ {MAX_WAIT:g}) to wait for the final answer before answering 202.")],
        responses={200: s.AnswerJobSerializer, 202: s.AnswerAcceptedSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request):
        """Ask a question. 202 with the job's URL, or 200 with the answer if it is final within ``wait``.

        Every answer is AI-generated and says so in ``label``; it cites its sources as
        ``[n]`` markers resolved in ``citations``, or abstains with a reason.
        """
        try:
            wait = float(request.query_params.get("wait", "0"))
        except ValueError:
            raise InvalidRequest("wait must be a number of seconds.") from None
        if not 0 <= wait <= MAX_WAIT:
            raise InvalidRequest(f"wait must be between 0 and {MAX_WAIT:g} seconds.")
        data = _valid(s.AnswerRequestSerializer, request.data)
        job = ask(
            data["question"],
            client=request.user,
            collections=data.get("collections"),
            use_case=data.get("use_case"),
            case_context=data["case_context"],
            mode=data.get("mode"),
            languages=data["languages"],
            metadata=data["metadata"],
            in_force_on=data["in_force_on"],
            actor=self.actor(request),
            names=data["names"],
        )
        deadline = time.monotonic() + wait
        while not job.is_final and time.monotonic() < deadline:
            time.sleep(POLL)
            job.refresh_from_db()
        if job.is_final:
            return Response(s.AnswerJobSerializer(job).data, status=status.HTTP_200_OK)
        body = self.accepted_body(request, job)
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})

    def actor(self, request) -> str | None:
        """Who asks, for the job row and the audit trail; ``None``: the API client."""
        return None

    def accepted_body(self, request, job: AnswerJob) -> dict:
        url = request.build_absolute_uri(reverse("govai:answer", args=[job.uid]))
        return s.AnswerAcceptedSerializer({"id": job.uid, "status": job.status, "url": url, "stream_url": url + "/stream"}).data


class AnswerDetailView(GovAIView):
    @extend_schema(operation_id="answers_retrieve", responses={200: s.AnswerJobSerializer, 404: ERROR})
    def get(self, request, uid):
        """The job: status, the answer with citations (or the abstention or error), timings."""
        return Response(s.AnswerJobSerializer(_own_job(request, uid)).data)


class EventStreamRenderer(BaseRenderer):
    """Lets clients send ``Accept: text/event-stream``; errors become one ``error`` event."""

    media_type = "text/event-stream"
    format = "sse"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return _event("error", data).encode()


class AnswerStreamView(GovAIView):
    renderer_classes = [JSONRenderer, EventStreamRenderer]
    @extend_schema(
        operation_id="answers_stream",
        responses={(200, "text/event-stream"): OpenApiResponse(
            SSE_EVENT, description="`token` events with text, then one `done` event with the job.")},
    )
    def get(self, request, uid):
        """Server-sent events: the answer's text as the model writes it, then the final job."""
        return self.stream(_own_job(request, uid))

    @staticmethod
    def stream(job: AnswerJob) -> StreamingHttpResponse:
        cfg = govai_settings.LLM
        limit = cfg["TIMEOUT"] * cfg["MAX_ATTEMPTS"] + 60

        def events():
            sent = 0
            deadline = time.monotonic() + limit
            current = job
            while True:
                current.refresh_from_db()
                text = current.answer_text if current.is_final else current.partial_text
                if current.status == AnswerJob.Status.SUCCEEDED or (not current.is_final and len(text) > sent):
                    if len(text) > sent:
                        yield _event("token", {"text": text[sent:]})
                        sent = len(text)
                if current.is_final:
                    yield _event("done", s.AnswerJobSerializer(current).data)
                    return
                if time.monotonic() > deadline:
                    yield _event("timeout", {"detail": "The answer is not final yet; GET the job later."})
                    return
                time.sleep(POLL)

        response = StreamingHttpResponse(events(), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response


def _event(name: str, data) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str, ensure_ascii=False)}\n\n"
