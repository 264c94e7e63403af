"""The host portal's Celery app, configured from Django settings (CELERY_*).

    celery -A settings.celery worker -l info
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.dev")

app = Celery("govai")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
