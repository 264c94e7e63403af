"""X-Road endpoints. Include under a path the Security Server alone can reach:

    path("xroad/", include("adapters.xroad.urls")),

REST service URLs to register: ``<portal>/xroad/rest/ask/`` and ``<portal>/xroad/rest/search/``,
with OpenAPI 3 descriptions at ``<portal>/xroad/openapi/ask`` and ``.../search``.
SOAP: ``<portal>/xroad/soap``, WSDL at ``<portal>/xroad/soap?wsdl``.
"""

from django.urls import include, path, re_path

from adapters.xroad import rest, soap

app_name = "govai_xroad"

urlpatterns = [
    path("rest/ask/", include(rest.ask_urlpatterns)),
    path("rest/search/", include(rest.search_urlpatterns)),
    path("openapi/ask", rest.openapi_view("ask"), name="openapi-ask"),
    path("openapi/search", rest.openapi_view("search"), name="openapi-search"),
    path("soap", soap.soap_view, name="soap"),
    re_path(r"^(?P<path>.*)$", rest.not_found),  # last: anything else is a JSON 404, not Django's HTML page
]
