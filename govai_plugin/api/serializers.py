from __future__ import annotations

import json

from django.core.validators import RegexValidator
from django.urls import reverse
from rest_framework import serializers
from drf_spectacular.utils import extend_schema_field

from govai_plugin import safejson
from govai_plugin.conf import govai_settings
from govai_plugin.models import Collection, Document
from govai_plugin.models.knowledge import IngestionJob, slug_validator
from govai_plugin.services.search import MODES, has_nul


class CollectionSerializer(serializers.ModelSerializer):
    documents = serializers.SerializerMethodField()

    class Meta:
        model = Collection
        fields = ["slug", "name", "description", "documents", "created_at"]
        read_only_fields = ["documents", "created_at"]

    def get_documents(self, obj) -> int:
        return obj.documents.filter(is_current=True).count()


class Text(serializers.CharField):
    """A string, and only a string: a JSON number or boolean is refused, as the schema says."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# Control characters the input guard refuses (tab, line and carriage return are text). Each pattern
# is one linear regular expression, so the schema can state it.
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f"
NO_CONTROL = RegexValidator(rf"^[^{_CONTROL}]*$", "Must not contain control characters.")
NON_BLANK = RegexValidator(rf"^[^\S\x0b\x0c\x1c-\x1f]*[^\s{_CONTROL}][^{_CONTROL}]*$",
                           "Must contain text and no control characters.")


def _nonblank(max_length: int) -> Text:
    """Text with something in it besides white space, and no control characters."""
    return Text(max_length=max_length, validators=[NON_BLANK])


class CollectionCreateSerializer(serializers.Serializer):
    slug = Text(max_length=64, validators=[slug_validator])
    name = Text(max_length=200, required=False, allow_blank=True, default="")
    description = Text(max_length=5000, required=False, allow_blank=True, default="")


class DocumentSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uid", read_only=True)
    collection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    chunks = serializers.IntegerField(source="chunk_count", read_only=True)
    supersedes = serializers.UUIDField(source="supersedes.uid", read_only=True, allow_null=True, default=None)

    class Meta:
        model = Document
        fields = [
            "id", "collection", "source_key", "version", "title", "content_hash", "media_type", "language",
            "size_bytes", "metadata", "effective_from", "effective_to", "is_current", "supersedes",
            "superseded_at", "chunks", "created_at",
        ]


class DocumentListQuerySerializer(serializers.Serializer):
    all_versions = serializers.ChoiceField(choices=["true", "false", "1", "0", "yes", "no"], required=False,
                                           help_text="Include superseded versions.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, help_text="Documents per page (default 50).")
    offset = serializers.IntegerField(required=False, min_value=0, help_text="Documents to skip.")


class DocumentPageSerializer(serializers.Serializer):
    """A page of documents (``limit`` and ``offset``)."""

    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DocumentSerializer(many=True)


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object, given as JSON or (in multipart forms) as a JSON string. PostgreSQL's
    jsonb cannot hold the NUL character, so no key or value may contain one."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = safejson.loads(data)
            except ValueError:  # malformed, or nested too deeply
                raise serializers.ValidationError("Must be a JSON object.") from None
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        if len(json.dumps(data)) > 20_000:
            raise serializers.ValidationError("Too large (at most 20,000 characters of JSON).")
        if has_nul(data):
            raise serializers.ValidationError("Keys and values must not contain the NUL character.")
        return data


class DocumentUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    language = serializers.CharField(max_length=16, required=False)
    effective_from = serializers.DateField(required=False)
    effective_to = serializers.DateField(required=False)
    metadata = JSONObjectField(required=False, default=dict)

    def validate(self, attrs):
        start, end = attrs.get("effective_from"), attrs.get("effective_to")
        if start and end and end < start:
            raise serializers.ValidationError({"effective_to": "Must not be before effective_from."})
        return attrs


#: What happened to one uploaded document (named IngestOutcomeStatusEnum in the schema).
OUTCOME_STATUSES = ["created", "new_version", "unchanged", "failed"]


class IngestOutcomeSerializer(serializers.Serializer):
    source = serializers.CharField()
    status = serializers.ChoiceField(choices=OUTCOME_STATUSES)
    document = serializers.UUIDField(allow_null=True, source="document.uid", default=None)
    version = serializers.IntegerField(allow_null=True, source="document.version", default=None)
    chunks = serializers.IntegerField()
    message = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)


class StoredOutcomeSerializer(serializers.Serializer):
    """One document's outcome as an ingestion job keeps it (the same fields as an upload's)."""

    source = serializers.CharField()
    status = serializers.ChoiceField(choices=OUTCOME_STATUSES)
    document = serializers.UUIDField(allow_null=True)
    version = serializers.IntegerField(allow_null=True)
    chunks = serializers.IntegerField()
    message = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)


class IngestionJobSerializer(serializers.ModelSerializer):
    """A large upload ingested by a worker: poll ``url`` until ``status`` is done or failed."""

    id = serializers.UUIDField(source="uid", read_only=True)
    url = serializers.SerializerMethodField()
    collection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    outcomes = StoredOutcomeSerializer(many=True, read_only=True)

    class Meta:
        model = IngestionJob
        fields = [
            "id", "url", "status", "collection", "name", "size_bytes", "outcomes", "reason", "error", "attempts",
            "created_at", "started_at", "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, obj) -> str:
        path = reverse("govai:ingestion", args=[obj.uid])
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path


class SearchRequestSerializer(serializers.Serializer):
    query = Text()
    collections = serializers.ListField(child=Text(validators=[slug_validator]), required=False, max_length=50)
    mode = serializers.ChoiceField(choices=MODES, required=False)
    top_k = serializers.IntegerField(required=False, min_value=1)
    languages = serializers.ListField(child=Text(max_length=16, allow_blank=True), required=False, default=list, max_length=20)
    metadata = JSONObjectField(required=False, default=dict)
    in_force_on = serializers.DateField(required=False, allow_null=True, default=None)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = govai_settings.RETRIEVAL  # limits a deployer sets are in the served schema too
        self.fields["query"] = _nonblank(cfg["MAX_QUERY_CHARS"])
        self.fields["top_k"] = serializers.IntegerField(required=False, min_value=1, max_value=cfg["MAX_TOP_K"])


class PassageLocationSerializer(serializers.Serializer):
    """Where a passage is: enough for a caseworker to open the exact place."""

    chunk_id = serializers.IntegerField()
    document_id = serializers.UUIDField()
    document_title = serializers.CharField()
    document_version = serializers.IntegerField()
    heading_path = serializers.CharField(allow_blank=True)
    page = serializers.IntegerField(allow_null=True)
    char_start = serializers.IntegerField()
    char_end = serializers.IntegerField()


class SearchHitSerializer(PassageLocationSerializer):
    collection = serializers.CharField()
    text = serializers.CharField()
    score = serializers.FloatField()
    dense_rank = serializers.IntegerField(allow_null=True)
    fulltext_rank = serializers.IntegerField(allow_null=True)
    dense_similarity = serializers.FloatField(allow_null=True)
    fulltext_score = serializers.FloatField(allow_null=True)
    language = serializers.CharField(allow_blank=True)


class SearchResponseSerializer(serializers.Serializer):
    query = serializers.CharField()
    mode = serializers.CharField()
    language = serializers.CharField(
        allow_null=True, help_text="The query's detected language (ISO 639-1), null when the detector was unsure.")
    hits = SearchHitSerializer(many=True)


class AnswerRequestSerializer(serializers.Serializer):
    question = Text()
    collections = serializers.ListField(child=Text(validators=[slug_validator]), required=False, max_length=50)
    use_case = serializers.ChoiceField(choices=[], required=False)
    case_context = Text(required=False, allow_blank=True, default="", trim_whitespace=False)
    mode = serializers.ChoiceField(choices=MODES, required=False)
    languages = serializers.ListField(child=Text(max_length=16, allow_blank=True), required=False, default=list, max_length=20)
    metadata = JSONObjectField(required=False, default=dict)
    in_force_on = serializers.DateField(required=False, allow_null=True, default=None)
    names = serializers.ListField(child=_nonblank(200), required=False, default=list, max_length=50,
                                  help_text="Names of people in the case: pseudonymised like other personal data.")

    def __init__(self, *args, **kwargs):
        from govai_plugin.services.plugins import use_cases

        super().__init__(*args, **kwargs)
        cfg = govai_settings.ANSWERS  # limits a deployer sets, and use cases plugins add, are in the served schema too
        self.fields["question"] = _nonblank(cfg["MAX_QUESTION_CHARS"])
        self.fields["use_case"] = serializers.ChoiceField(choices=sorted(use_cases()), required=False)
        self.fields["case_context"] = Text(required=False, allow_blank=True, default="", trim_whitespace=False,
                                           max_length=cfg["MAX_CONTEXT_CHARS"], validators=[NO_CONTROL])



class AnswerSourceSerializer(PassageLocationSerializer):
    number = serializers.IntegerField()
    collection = serializers.CharField()
    text = serializers.CharField()


class CitationSerializer(PassageLocationSerializer):
    marker = serializers.CharField()
    number = serializers.IntegerField()


class SentenceSupportSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    text = serializers.CharField()
    cited = serializers.ListField(child=serializers.IntegerField())
    lexical = serializers.FloatField()
    semantic = serializers.FloatField(allow_null=True)
    missing_numbers = serializers.ListField(child=serializers.CharField())
    supported = serializers.BooleanField()
    reason = serializers.CharField(allow_blank=True)


class SupportSerializer(serializers.Serializer):
    sentences = SentenceSupportSerializer(many=True)
    checked = serializers.IntegerField()
    supported = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    semantic = serializers.BooleanField(help_text="False when embeddings were unavailable (lexical check only).")


class AnswerabilitySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["judged", "skipped", "off"],
                                     help_text="judged: P(yes) measured; skipped: the server gave no log-probabilities "
                                               "(the answer went on); off: ANSWERS.ANSWERABILITY_THRESHOLD is 'off'.")
    p_yes = serializers.FloatField(required=False, allow_null=True,
                                   help_text="The model's probability that the sources contain the answer.")
    threshold = serializers.FloatField(required=False, allow_null=True,
                                       help_text="Below it the answer abstains (not_answerable); null: not calibrated, "
                                                 "P(yes) is only recorded.")
    threshold_source = serializers.ChoiceField(choices=["setting", "calibrated", "uncalibrated"], required=False)
    model = serializers.CharField(required=False, allow_blank=True)
    detail = serializers.CharField(required=False, allow_blank=True)


class AnswerJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="uid")
    status = serializers.CharField()
    use_case = serializers.CharField()
    question = serializers.SerializerMethodField()
    answer = serializers.CharField(source="answer_text", allow_blank=True)
    partial_answer = serializers.CharField(source="partial_text", allow_blank=True)
    label = serializers.SerializerMethodField()
    citations = CitationSerializer(many=True)
    sources = AnswerSourceSerializer(many=True)
    abstain_reason = serializers.CharField(
        allow_blank=True, help_text="Why the answer abstained (empty otherwise): outside_collections, no_source, "
                                    "not_answerable, sources_do_not_cover, sources_conflict or output_withheld (docs/answers.md).")
    abstain_detail = serializers.CharField(allow_blank=True)
    answerability = serializers.SerializerMethodField()
    findings = serializers.JSONField()
    support = serializers.SerializerMethodField()
    error = serializers.CharField(allow_blank=True)
    model = serializers.CharField(allow_blank=True)
    prompt_version = serializers.CharField(allow_blank=True)
    prompt_tokens = serializers.IntegerField(allow_null=True)
    completion_tokens = serializers.IntegerField(allow_null=True)
    attempts = serializers.IntegerField()
    timings = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_label(self, obj) -> str:
        return govai_settings.ANSWERS["LABEL"]

    def get_question(self, obj) -> str:
        """The question as asked (the row keeps it pseudonymised)."""
        from govai_plugin.pii import Pseudonyms

        return Pseudonyms(obj.pii_map).restore(obj.question)

    def get_timings(self, obj) -> dict[str, float | None]:
        return obj.timings()

    @extend_schema_field(AnswerabilitySerializer(allow_null=True))
    def get_answerability(self, obj) -> dict | None:
        """The answerability step before generation (null until it ran, and when the answer
        abstained before the model)."""
        if not obj.answerability:
            return None
        return {k: v for k, v in obj.answerability.items() if k in AnswerabilitySerializer().fields}

    @extend_schema_field(SupportSerializer(allow_null=True))
    def get_support(self, obj) -> dict | None:
        """Which sentences the cited passages support (null until the answer is final, and
        when it abstained)."""
        from govai_plugin.pii import Pseudonyms

        if not obj.support:
            return None
        restore = Pseudonyms(obj.pii_map).restore
        return {**obj.support, "sentences": [{**s, "text": restore(s["text"])} for s in obj.support.get("sentences", [])]}


class AnswerAcceptedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    url = serializers.CharField()
    stream_url = serializers.CharField()


class TransparencyDocumentSerializer(serializers.Serializer):
    title = serializers.CharField()
    version = serializers.IntegerField()
    sha256 = serializers.CharField()
    language = serializers.CharField()
    effective_from = serializers.DateField(allow_null=True)
    effective_to = serializers.DateField(allow_null=True)
    ingested_at = serializers.DateTimeField()


class TransparencyCollectionSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    documents_in_use = serializers.IntegerField()
    listed = serializers.IntegerField()
    documents = TransparencyDocumentSerializer(many=True)


class TransparencyUseCaseSerializer(serializers.Serializer):
    slug = serializers.CharField()
    title = serializers.CharField()
    prompt_version = serializers.CharField()
    description = serializers.CharField(allow_blank=True)


class TransparencySerializer(serializers.Serializer):
    service = serializers.DictField(help_text="name, version, operator, purpose, ai_label, generated_at")
    models = serializers.DictField(help_text="generation (configured model, licence, models used in the last 30 days) "
                                             "and embeddings")
    use_cases = TransparencyUseCaseSerializer(many=True)
    collections = TransparencyCollectionSerializer(many=True)
    safety = serializers.DictField(help_text="pseudonymisation, input guards, output checks, quarantine, grounding, audit")
    plugins = serializers.ListField(child=serializers.DictField())
    limitations = serializers.ListField(child=serializers.CharField())
