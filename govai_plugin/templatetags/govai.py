"""``{% govai_suggestions system="..." case="..." %}``: the review widget for a case page.

The portal's case page must be served to a signed-in user with the
``govai_plugin.change_suggestion`` permission; the widget calls the suggestions API on the
same origin with that session (and Django's CSRF token for decisions). It shows and decides
only what the case system's ``WIDGET_CLIENT`` may see (its ``REVIEWERS`` grant and collection
reads; docs/cases.md): a suggestion drawn from a collection that client may not read is not
listed, and its URLs answer 404.
"""

from __future__ import annotations

from django import template
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def govai_suggestions(system: str, case: str) -> str:
    api = reverse("govai:suggestions")
    return format_html(
        '<section class="govai-suggestions" data-api="{}" data-system="{}" data-case="{}" aria-live="polite">'
        '<p class="govai-loading">Loading suggestions…</p></section>'
        '<link rel="stylesheet" href="{}"><script src="{}" defer></script>',
        api, system, case, static("govai_plugin/widget.css"), static("govai_plugin/widget.js"),
    )
