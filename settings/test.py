import os

from settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# The tests' live servers speak plain HTTP on loopback (DEBUG off would make the cookies HTTPS-only).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False

# Tests use their own queue, so a worker of the dev portal never takes their tasks.
CELERY_TASK_DEFAULT_QUEUE = "govai-test"

# Worker subprocesses started by tests reach the test database and the test's LLM stand-in.
if os.environ.get("GOVAI_TEST_DB_NAME"):
    DATABASES["default"]["NAME"] = os.environ["GOVAI_TEST_DB_NAME"]
if os.environ.get("GOVAI_TEST_LLM_URL"):
    GOVAI = {**GOVAI, "LLM": {"BASE_URL": os.environ["GOVAI_TEST_LLM_URL"], "MODEL": "fake-llm-1", "TIMEOUT": 60.0}}
