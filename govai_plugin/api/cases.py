"""Case systems and suggestions: the signed webhook, suggestions and their review."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
)
from rest_framework import permissions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.response import Response

from govai_plugin.api.answers import AnswerStreamView
from govai_plugin.api.authentication import ApiKeyAuthentication
from govai_plugin.api.serializers import AnswerSourceSerializer, CitationSerializer
from govai_plugin.api.views import ERROR, GovAIView, _valid
from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import InvalidRequest, NotFound, Replayed, SignatureInvalid
from govai_plugin.models import ApiClient, Suggestion
from govai_plugin.services import audit
from govai_plugin.services import suggestions as service


class CanReview(permissions.BasePermission):
    """An API client allowed to review suggestions, or a portal user with the
    ``govai_plugin.change_suggestion`` permission (the widget, on a session)."""

    message = "This caller may not read or review suggestions."

    def has_permission(self, request, view):
        user = request.user
        if isinstance(user, ApiClient):
            return user.can_review_suggestions
        return bool(user and user.is_authenticated and user.has_perm("govai_plugin.change_suggestion"))


class ReviewView(GovAIView):
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [CanReview]


class SuggestionSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uid")
    system = serializers.CharField()
    case_ref = serializers.CharField()
    status = serializers.CharField()
    text = serializers.SerializerMethodField()
    label = serializers.SerializerMethodField()
    answer_status = serializers.CharField(source="answer_job.status")
    abstain_reason = serializers.CharField(source="answer_job.abstain_reason")
    citations = CitationSerializer(many=True, source="answer_job.citations")
    sources = AnswerSourceSerializer(many=True, source="answer_job.sources")
    context_sources = serializers.ListField(child=serializers.CharField())
    needs_review = serializers.BooleanField()
    review_flag = serializers.CharField()
    reviewer = serializers.CharField()
    reviewed_at = serializers.DateTimeField(allow_null=True)
    final_text = serializers.CharField()
    diff = serializers.CharField()
    reason = serializers.CharField()
    decided_via = serializers.CharField()
    writeback = serializers.CharField()
    writeback_error = serializers.CharField()
    external_ref = serializers.CharField()
    created_at = serializers.DateTimeField()

    def get_text(self, obj) -> str:
        return "" if obj.status == Suggestion.Status.DRAFTING else service.payload(obj).text

    def get_label(self, obj) -> str:
        return govai_settings.ANSWERS["LABEL"]


#: No NUL character (PostgreSQL text cannot hold one), said in the schema too.
NO_NUL = r"^[^\x00]+$"


@extend_schema_field({"type": "string", "enum": ["", *Suggestion.Status.values]})
class SuggestionStatusFilter(serializers.ChoiceField):
    """A suggestion status, or empty; inline in the schema (other "status" enums mean other things)."""


class SuggestionFilterSerializer(serializers.Serializer):
    """Query parameters of the list; an empty value filters nothing."""

    system = serializers.RegexField(NO_NUL, required=False, allow_blank=True, max_length=64, help_text="case system name")
    case = serializers.RegexField(NO_NUL, required=False, allow_blank=True, max_length=500, help_text="the case's reference")
    status = SuggestionStatusFilter(required=False, allow_blank=True, choices=Suggestion.Status.values)


class _Decision(serializers.Serializer):
    reviewer = serializers.CharField(required=False, allow_blank=True, default="", max_length=200,
                                     help_text="who decided (API clients; in the widget it is the signed-in user)")


class AcceptDecisionSerializer(_Decision):
    action = serializers.ChoiceField(choices=["accept"])


class EditDecisionSerializer(_Decision):
    action = serializers.ChoiceField(choices=["edit"])
    text = serializers.RegexField(r"\S", max_length=50_000, trim_whitespace=False,
                                  help_text="the edited text (different from the draft)",
                                  error_messages={"required": "An edit needs the edited text.",
                                                  "blank": "An edit needs the edited text.",
                                                  "invalid": "An edit needs the edited text, not only spaces."})


class RejectDecisionSerializer(_Decision):
    action = serializers.ChoiceField(choices=["reject"])
    reason = serializers.RegexField(r"\S", max_length=5_000, help_text="why it was rejected",
                                    error_messages={"required": "A rejection needs a reason.",
                                                    "blank": "A rejection needs a reason.",
                                                    "invalid": "A rejection needs a reason, not only spaces."})


DECISIONS = {"accept": AcceptDecisionSerializer, "edit": EditDecisionSerializer, "reject": RejectDecisionSerializer}
#: The decision body in the schema: one shape per action, so an edit without text is invalid there too.
DECISION_REQUEST = PolymorphicProxySerializer(component_name="Decision", serializers=DECISIONS,
                                              resource_type_field_name="action")


def _decision(data) -> dict:
    action = data.get("action") if isinstance(data, dict) else None
    if not isinstance(action, str) or action not in DECISIONS:
        raise InvalidRequest(f"action must be one of {', '.join(DECISIONS)}.")
    return _valid(DECISIONS[action], data)


class EventAcceptedSerializer(serializers.Serializer):
    event = serializers.CharField()
    status = serializers.CharField()


class CaseEventView(GovAIView):
    """Signed events from a case system (no API key: the HMAC signature authenticates)."""

    throttle_scope = {"POST": "case_events"}

    authentication_classes = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="case_events_create",
        request={"application/json": OpenApiTypes.OBJECT},
        parameters=[
            OpenApiParameter("X-GovAI-Timestamp", str, OpenApiParameter.HEADER, required=True, description="Unix seconds"),
            OpenApiParameter("X-GovAI-Event-Id", str, OpenApiParameter.HEADER, required=True, description="unique per event"),
            OpenApiParameter("X-GovAI-Signature", str, OpenApiParameter.HEADER, required=True,
                             description='"sha256=" + hex HMAC-SHA256(secret, "{timestamp}.{event id}." + body)'),
        ],
        responses={202: EventAcceptedSerializer, 400: ERROR, 401: ERROR, 404: ERROR, 409: ERROR, 413: ERROR},
    )
    def post(self, request, system: str):
        """Receive a case event (``case.created``, ``case.updated``, ``suggestion.decided``)."""
        limit = govai_settings.CASES["MAX_EVENT_BYTES"]
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        meta = request.META
        event_id = meta.get("HTTP_X_GOVAI_EVENT_ID")
        try:
            if declared > limit:
                return self._refused(system, event_id, "too_large", 413, f"The event is larger than {limit:,} bytes.")
            event = service.receive_event(system, timestamp=meta.get("HTTP_X_GOVAI_TIMESTAMP"), event_id=event_id,
                                          signed=meta.get("HTTP_X_GOVAI_SIGNATURE"), body=request.body)
        except SignatureInvalid as exc:
            return self._refused(system, event_id, "bad_signature", 401, str(exc))
        except Replayed as exc:
            return self._refused(system, event_id, "replayed", 409, str(exc))
        except NotFound:
            raise
        return Response({"event": event.event_id, "status": event.outcome}, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _refused(system: str, event_id: str | None, code: str, http_status: int, detail: str) -> Response:
        audit.record("case.event", actor=f"case:{system[:64]}", outcome=code, object_ref=(event_id or "")[:200],
                     details={"detail": detail})
        return Response({"error": code, "detail": detail}, status=http_status)


class SuggestionListView(ReviewView):
    @extend_schema(
        operation_id="suggestions_list",
        parameters=[SuggestionFilterSerializer],
        responses={200: SuggestionSerializer(many=True), 400: ERROR},
    )
    def get(self, request):
        """Suggestions this caller may see (its case systems, and only those whose sources all come
        from collections it may read), newest first, filtered by case system, case and status (at most 200)."""
        filters = _valid(SuggestionFilterSerializer, request.query_params)
        return Response(SuggestionSerializer(service.listed(request.user, **filters), many=True).data)


class SuggestionDetailView(ReviewView):
    @extend_schema(operation_id="suggestions_retrieve", responses={200: SuggestionSerializer, 404: ERROR})
    def get(self, request, uid):
        """A suggestion: the draft, its citations and sources, its review and write-back state."""
        return Response(SuggestionSerializer(service.get_visible(request.user, uid)).data)


class SuggestionDecisionView(ReviewView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="suggestions_decide", request=DECISION_REQUEST,
                   responses={200: SuggestionSerializer, 400: ERROR, 403: ERROR, 404: ERROR})
    def post(self, request, uid):
        """Accept, edit (``text``) or reject (``reason``) a draft. API clients name the ``reviewer``;
        in the widget it is the signed-in user."""
        data = _decision(request.data)
        decided = service.review(request.user, uid, data["action"], reviewer=data["reviewer"], text=data.get("text", ""),
                                 reason=data.get("reason", ""))
        return Response(SuggestionSerializer(decided).data)


class SuggestionStreamView(ReviewView):
    renderer_classes = AnswerStreamView.renderer_classes

    @extend_schema(operation_id="suggestions_stream",
                   responses={200: OpenApiResponse(OpenApiTypes.STR, description="text/event-stream, as for answers"),
                              404: ERROR})
    def get(self, request, uid):
        """The draft as the model writes it (server-sent events), then the final answer job."""
        return AnswerStreamView.stream(service.get_visible(request.user, uid).answer_job)
