"""Council membership pages: members and terms, volunteers, draws by lot, sharing."""

urlpatterns: list = []
