"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app's tasks.py."""

from __future__ import annotations

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aniavatar.settings")
# The embedded broker publishes each message atomically (see aniavatar.broker).
TRANSPORT_ALIASES["filesystem"] = "aniavatar.broker:Transport"

app = Celery("aniavatar")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
