from django.apps import AppConfig


class GovAIConfig(AppConfig):
    name = "govai_plugin"
    verbose_name = "GovAI assistant"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from govai_plugin import checks  # noqa: F401  (registers the system checks)
