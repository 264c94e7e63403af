from django.apps import AppConfig


class XRoadConfig(AppConfig):
    name = "adapters.xroad"
    label = "govai_xroad"
    verbose_name = "GovAI X-Road"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from adapters.xroad import checks  # noqa: F401  (registers the system checks)
