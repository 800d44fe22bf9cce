"""Test set-up shared by every app: environment, personas, clients."""

import os

# Tests run on the development defaults unless DATABASE_URL / REDIS_URL say otherwise.
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ["CIVITAS_TESTING"] = "true"
os.environ.setdefault("CIVITAS_LOG_LEVEL", "WARNING")

pytest_plugins = ["portal.testing"]
