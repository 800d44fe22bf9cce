"""Test set-up shared by every app; the environment is set in pyproject.toml (pytest-env)."""

pytest_plugins = ["portal.testing"]
