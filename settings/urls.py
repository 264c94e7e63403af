from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    # Only the Security Server should reach xroad/ (see GOVAI["XROAD"]["ALLOWED_ADDRESSES"]).
    path("xroad/", include("adapters.xroad.urls")),
    path("", include("govai_plugin.urls")),
]
