"""Council pages: list, mandate, queue, review of an item, verdicts (owned by the review UI)."""

urlpatterns: list = []
