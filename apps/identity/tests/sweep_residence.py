"""What the cross-institution sweep needs from residence: a request waiting at Aurelia."""


def sweep_residence_request(world):
    """A submitted residence request of Aurelia (no document: nothing is written to MEDIA_ROOT), made once."""
    if "residence_request" not in world.__dict__:
        from apps.identity.residence.services import residence_request_submit
        from portal.testing import UserFactory

        world.__dict__["residence_request"] = residence_request_submit(
            applicant=UserFactory(username="sweep-applicant"),
            municipality=world.aurelia,
            address_line1="1 Sweep Street",
            postcode="1000",
            city="Aurelia",
        )
    return world.__dict__["residence_request"]
