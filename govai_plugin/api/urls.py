from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from govai_plugin.api import answers, views

urlpatterns = [
    path("collections", views.CollectionListView.as_view(), name="collections"),
    path("collections/<slug:slug>", views.CollectionDetailView.as_view(), name="collection"),
    path("collections/<slug:slug>/documents", views.CollectionDocumentsView.as_view(), name="collection-documents"),
    path("documents/<uuid:uid>", views.DocumentDetailView.as_view(), name="document"),
    path("search", views.SearchView.as_view(), name="search"),
    path("answers", answers.AnswerListView.as_view(), name="answers"),
    path("answers/<uuid:uid>", answers.AnswerDetailView.as_view(), name="answer"),
    path("answers/<uuid:uid>/stream", answers.AnswerStreamView.as_view(), name="answer-stream"),
    path("schema", SpectacularAPIView.as_view(urlconf="govai_plugin.urls"), name="schema"),
]
