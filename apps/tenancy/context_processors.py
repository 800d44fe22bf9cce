from apps.tenancy.selectors import institutions_for_user


def institutions(request):
    """The switcher's list and the institution the page belongs to."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "my_institutions": institutions_for_user(user=user),
        "current_institution": getattr(request, "institution", None),
        "current_roles": getattr(request, "institution_roles", set()),
    }
