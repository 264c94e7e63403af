from django.urls import include, path

app_name = "govai"

urlpatterns = [
    path("api/v1/", include("govai_plugin.api.urls")),
]
