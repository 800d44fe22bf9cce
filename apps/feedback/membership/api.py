"""Council members, volunteers, draws by lot and sharing over the API."""

urlpatterns: list = []
