"""Councils, their queues, votes and verdicts over the API (owned by the review UI)."""

urlpatterns: list = []
