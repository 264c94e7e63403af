"""The sample portal's own pages (dev, tests, demo): a case page with the review widget."""

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@permission_required("govai_plugin.change_suggestion", raise_exception=True)
@ensure_csrf_cookie
def case_page(request, system: str, case: str):
    return render(request, "portal/case.html", {"system": system, "case": case})
