"""Institutions (the tenants), their members, and the base of every tenant-owned model."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.tenancy.scope import TenancyScopeMissing, TenancyViolation, current_institution


class InstitutionKind(models.TextChoices):
    MINISTRY = "ministry", _("Ministry")
    MUNICIPALITY = "municipality", _("Municipality")
    ENTERPRISE = "enterprise", _("Enterprise")
    NGO = "ngo", _("Non-governmental organisation")
    AUDIT_OFFICE = "audit_office", _("Audit office")


class Role(models.TextChoices):
    CITIZEN = "citizen", _("Citizen")
    CIVIL_SERVANT = "civil_servant", _("Civil servant")
    COUNCIL_MEMBER = "council_member", _("Council member")
    INSTITUTION_ADMIN = "institution_admin", _("Institution administrator")
    AUDITOR = "auditor", _("Auditor")
    INTEGRATOR = "integrator", _("Integrator")


class Institution(models.Model):
    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("short name"), max_length=60, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=InstitutionKind.choices)
    # did:web identifier; the identity work publishes its DID document.
    did = models.CharField(_("DID"), max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("institution")
        verbose_name_plural = _("institutions")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One role of one user in one institution.

    Not an `InstitutionOwned` model: memberships are how the scope itself is decided,
    so they are read across institutions (a user's own list) through selectors only.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=30, choices=Role.choices)
    granted_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "institution", "role"], name="membership_unique_role"),
        ]
        indexes = [models.Index(fields=["institution", "role"])]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} · {self.institution} · {self.get_role_display()}"


class InstitutionScopedQuerySet(models.QuerySet):
    pass


class InstitutionScopedManager(models.Manager):
    """The default manager of tenant-owned models: it fails closed.

    Without an institution in scope it raises `TenancyScopeMissing`; with one, it only
    ever returns that institution's rows.
    """

    def get_queryset(self) -> models.QuerySet:
        institution = current_institution()
        if institution is None:
            raise TenancyScopeMissing(
                f"{self.model.__name__} was queried with no institution in scope; use a selector "
                "inside institution_scope(), or the explicit all_institutions manager."
            )
        return InstitutionScopedQuerySet(self.model, using=self._db).filter(institution=institution)


class InstitutionOwned(models.Model):
    """Abstract base of every row that belongs to one institution."""

    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="+")

    objects = InstitutionScopedManager()
    # tenancy: the explicit way across institutions (sequencing, federation, admin).
    all_institutions = models.Manager()  # noqa: DJ012 (a manager, not a field)

    class Meta:
        abstract = True
        base_manager_name = "all_institutions"

    def save(self, *args, **kwargs) -> None:
        institution = current_institution()
        if institution is not None and self.institution_id != institution.pk:
            raise TenancyViolation(
                f"{type(self).__name__} of institution {self.institution_id} written inside the scope "
                f"of institution {institution.pk}."
            )
        super().save(*args, **kwargs)
