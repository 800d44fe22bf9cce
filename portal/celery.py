"""The Celery app: a worker on Redis in production, on the filesystem broker by default."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("civitas")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
