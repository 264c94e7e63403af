from django import forms
from django.contrib import admin

from adapters.xroad.access import ensure_api_client, set_collections
from adapters.xroad.models import XRoadClient
from govai_plugin.models import Collection


class XRoadClientForm(forms.ModelForm):
    collections = forms.ModelMultipleChoiceField(
        Collection.objects.all(), required=False, widget=admin.widgets.FilteredSelectMultiple("collections", False),
        help_text="Collections this X-Road client may read through our services.",
    )

    class Meta:
        model = XRoadClient
        fields = ["identifier", "services", "is_active", "note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["collections"].initial = list(self.instance.api_client.collections.all())


@admin.register(XRoadClient)
class XRoadClientAdmin(admin.ModelAdmin):
    form = XRoadClientForm
    list_display = ["identifier", "services", "is_active", "from_settings", "created_at"]
    list_filter = ["is_active", "from_settings"]
    search_fields = ["identifier", "note"]
    readonly_fields = ["api_client", "from_settings", "created_at"]

    def save_model(self, request, obj, form, change):
        if not obj.api_client_id:
            obj.api_client = ensure_api_client(obj.identifier)
        super().save_model(request, obj, form, change)
        set_collections(obj, [c.slug for c in form.cleaned_data["collections"]])
