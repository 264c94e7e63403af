from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView

from govai_plugin.api import answers, cases, ingestions, views

urlpatterns = [
    path("collections", views.CollectionListView.as_view(), name="collections"),
    path("collections/<slug:slug>", views.CollectionDetailView.as_view(), name="collection"),
    path("collections/<slug:slug>/documents", views.CollectionDocumentsView.as_view(), name="collection-documents"),
    path("documents/<uuid:uid>", views.DocumentDetailView.as_view(), name="document"),
    path("ingestions/<uuid:uid>", ingestions.IngestionDetailView.as_view(), name="ingestion"),
    path("search", views.SearchView.as_view(), name="search"),
    path("answers", answers.AnswerListView.as_view(), name="answers"),
    path("answers/<uuid:uid>", answers.AnswerDetailView.as_view(), name="answer"),
    path("answers/<uuid:uid>/stream", answers.AnswerStreamView.as_view(), name="answer-stream"),
    path("cases/<slug:system>/events", cases.CaseEventView.as_view(), name="case-events"),
    path("suggestions", cases.SuggestionListView.as_view(), name="suggestions"),
    path("suggestions/<uuid:uid>", cases.SuggestionDetailView.as_view(), name="suggestion"),
    path("suggestions/<uuid:uid>/decision", cases.SuggestionDecisionView.as_view(), name="suggestion-decision"),
    path("suggestions/<uuid:uid>/stream", cases.SuggestionStreamView.as_view(), name="suggestion-stream"),
    path("transparency", views.TransparencyView.as_view(), name="transparency"),
    path("schema", SpectacularAPIView.as_view(urlconf="govai_plugin.urls"), name="schema"),
    re_path(r"^(?P<path>(?s:.*))$", views.unknown_path),  # last: everything else is a JSON 404
]
