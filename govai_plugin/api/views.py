"""Thin views: validate, call one service, serialise."""

from __future__ import annotations

from django.db.models import Count
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from govai_plugin.api import serializers as s
from govai_plugin.api.authentication import ApiKeyAuthentication
from govai_plugin.api.parsers import SafeJSONParser
from govai_plugin.api.schema import ERROR, GovAIAutoSchema
from govai_plugin.api.throttling import ClientRateThrottle
from govai_plugin.conf import govai_settings
from govai_plugin.exceptions import AccessDenied, NotFound
from govai_plugin.models import Collection, Document, IngestionJob
from govai_plugin.services import access, ingest
from govai_plugin.services.search import search

__all__ = ["ERROR", "GovAIView"]


class GovAIView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]
    throttle_classes = [ClientRateThrottle]
    parser_classes = [SafeJSONParser, FormParser, MultiPartParser]
    schema = GovAIAutoSchema()
    #: HTTP method -> GOVAI["API"]["RATE_LIMITS"] scope ("default" otherwise).
    throttle_scope: dict[str, str] = {}
    #: HTTP method -> serializer of its query string: a malformed parameter is a 400, not ignored.
    query_serializers: dict[str, type] = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method in self.query_serializers:
            _valid(self.query_serializers[request.method], request.query_params.dict())  # "" is a value, not absent

    def get_parsers(self):
        # Every JSON body is read with the nesting and size bounds, also in views that name DRF's parser.
        return [SafeJSONParser() if type(p) is JSONParser else p for p in super().get_parsers()]

    def get_exception_handler(self):
        from govai_plugin.api.errors import exception_handler

        return exception_handler

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        # Answers, cases and errors can hold personal data: no shared or browser cache keeps them.
        response.setdefault("Cache-Control", "no-store")
        return response


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 500


class CollectionListView(GovAIView):
    @extend_schema(operation_id="collections_list", responses={200: s.CollectionSerializer(many=True)})
    def get(self, request):
        """Collections this client may read."""
        return Response(s.CollectionSerializer(access.readable_collections(request.user), many=True).data)

    @extend_schema(
        operation_id="collections_create",
        request=s.CollectionCreateSerializer,
        responses={201: s.CollectionSerializer, 400: ERROR, 403: ERROR, 409: ERROR},
    )
    def post(self, request):
        """Create a collection (clients allowed to create collections only); the creator may read and write it."""
        if not request.user.can_create_collections:
            raise AccessDenied("This client may not create collections.")
        data = _valid(s.CollectionCreateSerializer, request.data)
        if Collection.objects.filter(slug=data["slug"]).exists():
            return Response({"error": "conflict", "detail": f"A collection {data['slug']!r} already exists."},
                            status=status.HTTP_409_CONFLICT)
        collection = access.create_collection(data["slug"], data["name"], data["description"], owner=request.user)
        return Response(s.CollectionSerializer(collection).data, status=status.HTTP_201_CREATED)


class CollectionDetailView(GovAIView):
    @extend_schema(operation_id="collections_retrieve", responses={200: s.CollectionSerializer, 404: ERROR})
    def get(self, request, slug: str):
        return Response(s.CollectionSerializer(access.get_readable(request.user, slug)).data)


class CollectionDocumentsView(GovAIView):
    parser_classes = [MultiPartParser, FormParser]
    throttle_scope = {"POST": "ingest"}
    query_serializers = {"GET": s.DocumentListQuerySerializer}

    @extend_schema(
        operation_id="documents_list",
        parameters=[s.DocumentListQuerySerializer],
        responses={200: s.DocumentPageSerializer, 404: ERROR},
    )
    def get(self, request, slug: str):
        """Documents in a collection (current versions unless all_versions=true)."""
        collection = access.get_readable(request.user, slug)
        documents = Document.objects.filter(collection=collection).select_related("collection", "supersedes")
        if request.query_params.get("all_versions", "").lower() not in ("1", "true", "yes"):
            documents = documents.filter(is_current=True)
        documents = documents.annotate(chunk_count=Count("chunks")).order_by("source_key", "-version")
        paginator = Pagination()
        page = paginator.paginate_queryset(documents, request, view=self)
        return paginator.get_paginated_response(s.DocumentSerializer(page, many=True).data)

    @extend_schema(
        operation_id="documents_upload",
        request={"multipart/form-data": s.DocumentUploadSerializer},
        responses={
            201: s.IngestOutcomeSerializer(many=True),
            200: s.IngestOutcomeSerializer(many=True),
            202: OpenApiResponse(s.IngestionJobSerializer, description="Over INGESTION.ASYNC_ABOVE_BYTES, or more "
                                 "passages than SYNC_MAX_PASSAGES: queued for a worker; poll the job at the Location header."),
            400: ERROR, 403: ERROR, 404: ERROR, 413: ERROR,
            422: OpenApiResponse({"type": "array", "items": {"$ref": "#/components/schemas/IngestOutcome"}},
                                 description="Nothing could be ingested: each document's outcome says why."),
        },
    )
    def post(self, request, slug: str):
        """Upload a document (.txt .md .html .pdf .docx) or a BEIR .jsonl corpus.

        201 if anything new was stored, 200 if everything was already there,
        422 if nothing could be ingested; the body lists each document's outcome.
        A file over INGESTION.ASYNC_ABOVE_BYTES, or whose text makes more than
        INGESTION.SYNC_MAX_PASSAGES passages, is ingested by a worker: 202 with the job,
        whose ``url`` (also the Location header) tells how it went.
        """
        limit = govai_settings.API["MAX_UPLOAD_BYTES"]
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit + 64 * 1024:  # refuse before reading the body
            return _too_large(limit)
        collection = access.get_writable(request.user, slug)
        data = _valid(s.DocumentUploadSerializer, request.data)
        upload = data["file"]
        if upload.size > limit:
            return _too_large(limit)
        options = ingest.IngestOptions(
            language=data.get("language"),
            effective_from=data.get("effective_from"),
            effective_to=data.get("effective_to"),
            metadata=data["metadata"],
            actor=f"api:{request.user.name}",
        )
        result = ingest.ingest_upload(collection, upload.name or "upload", upload.read(), options=options, client=request.user)
        if isinstance(result, IngestionJob):
            body = s.IngestionJobSerializer(result, context={"request": request}).data
            return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})
        outcomes = result
        if any(o.status in ("created", "new_version") for o in outcomes):
            code = status.HTTP_201_CREATED
        elif any(o.status == "unchanged" for o in outcomes):
            code = status.HTTP_200_OK
        else:
            code = status.HTTP_422_UNPROCESSABLE_ENTITY
        return Response(s.IngestOutcomeSerializer(outcomes, many=True).data, status=code)


class DocumentDetailView(GovAIView):
    def _document(self, request, uid) -> Document:
        readable = access.readable_collections(request.user)
        document = (
            Document.objects.filter(uid=uid, collection__in=readable)
            .select_related("collection", "supersedes")
            .annotate(chunk_count=Count("chunks"))
            .first()
        )
        if document is None:
            raise NotFound("No document you may read has this id.")
        return document

    @extend_schema(operation_id="documents_retrieve", responses={200: s.DocumentSerializer, 404: ERROR})
    def get(self, request, uid):
        return Response(s.DocumentSerializer(self._document(request, uid)).data)

    @extend_schema(operation_id="documents_destroy", responses={204: None, 403: ERROR, 404: ERROR})
    def delete(self, request, uid):
        """Delete the document: every version of it and all their passages."""
        document = self._document(request, uid)
        access.get_writable(request.user, document.collection.slug)
        ingest.delete_document(document, actor=f"api:{request.user.name}")
        return Response(status=status.HTTP_204_NO_CONTENT)


class SearchView(GovAIView):
    parser_classes = [SafeJSONParser]
    throttle_scope = {"POST": "search"}

    @extend_schema(
        operation_id="search",
        request=s.SearchRequestSerializer,
        responses={200: s.SearchResponseSerializer, 400: ERROR, 404: ERROR},
    )
    def post(self, request):
        """Hybrid (default), dense or full-text search over the collections this client may read."""
        data = _valid(s.SearchRequestSerializer, request.data)
        result = search(
            data["query"],
            client=request.user,
            collections=data.get("collections"),
            mode=data.get("mode"),
            top_k=data.get("top_k"),
            languages=data["languages"],
            metadata=data["metadata"],
            in_force_on=data["in_force_on"],
        )
        body = {"query": result.query.text, "mode": result.query.mode, "language": result.query.language,
                "hits": [h.__dict__ for h in result.hits]}
        return Response(s.SearchResponseSerializer(body).data)


def _valid(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@csrf_exempt
def unknown_path(request, path: str = "") -> JsonResponse:
    """Paths under the API that name no endpoint: the API's JSON error, not an HTML page."""
    response = JsonResponse({"error": "not_found", "detail": "No API endpoint has this path."}, status=404)
    response["Cache-Control"] = "no-store"
    return response


def _too_large(limit: int) -> Response:
    return Response(
        {"error": "too_large", "detail": f"The upload is larger than the limit of {limit:,} bytes."},
        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    )



class TransparencyView(GovAIView):
    """What the assistant is and how it works, for publication (no API key needed unless
    GOVAI["TRANSPARENCY"]["PUBLIC"] is False)."""

    def get_permissions(self):
        if govai_settings.TRANSPARENCY["PUBLIC"]:
            return [AllowAny()]
        return super().get_permissions()

    @extend_schema(operation_id="transparency", responses={200: s.TransparencySerializer, 401: ERROR}, auth=[{}, {"ApiKey": []}])
    def get(self, request):
        """Models and licences, prompt versions, collections and document versions in use,
        safety measures on, and known limitations."""
        from govai_plugin.services import transparency

        return Response(transparency.report())
