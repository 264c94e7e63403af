from django.contrib import admin
from django.urls import include, path

from settings.views import case_page

urlpatterns = [
    path("admin/", admin.site.urls),
    # The sample portal's case page with the suggestions widget.
    path("portal/cases/<slug:system>/<str:case>/", case_page, name="portal-case"),
    # Only the Security Server should reach xroad/ (see GOVAI["XROAD"]["ALLOWED_ADDRESSES"]).
    path("xroad/", include("adapters.xroad.urls")),
    path("", include("govai_plugin.urls")),
]
