"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app's tasks.py."""

from __future__ import annotations

import logging
import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aniavatar.settings")
# The embedded broker publishes each message atomically (see aniavatar.broker).
TRANSPORT_ALIASES["filesystem"] = "aniavatar.broker:Transport"

app = Celery("aniavatar")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _mask_keys_in_celerys_handlers(logger: logging.Logger, **kwargs: object) -> None:
    """Celery gives its task logger a handler of its own, outside LOGGING: it masks keys like ours do."""
    from providers.redaction import RedactSecretsFilter

    for handler in logger.handlers:
        if not any(isinstance(f, RedactSecretsFilter) for f in handler.filters):
            handler.addFilter(RedactSecretsFilter())
