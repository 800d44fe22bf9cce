"""Web pages of the BPM engine, under /i/<institution_slug>/bpm/.

The tenancy middleware has already checked membership (outsiders get 404) and put the
institution in scope. Civil servants, administrators and auditors read definitions and
instances; administrators upload; civil servants and administrators start instances and
work the queue of the roles they hold (administrators: every queue, and reassign).
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.staticfiles import finders
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from apps.bpm import selectors, services
from apps.bpm.forms import ReassignForm, StartForm, TaskForm, UploadForm
from apps.bpm.models import InstanceStatus, WorkItemStatus
from apps.tenancy.models import Membership, Role
from portal.errors import ApplicationError, ValidationFailed

READERS = frozenset({Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN, Role.AUDITOR})
WORKERS = frozenset({Role.CIVIL_SERVANT, Role.INSTITUTION_ADMIN})
VIEWER = "vendor/bpmn-js/bpmn-navigated-viewer.production.min.js"
PER_PAGE = 25


def _require(request, roles: frozenset[str]) -> None:
    if not request.institution_roles & roles:
        raise PermissionDenied(_("Your role in this institution does not allow this."))


def _is_admin(request) -> bool:
    return Role.INSTITUTION_ADMIN in request.institution_roles


def _service_errors(form, error: ApplicationError) -> None:
    errors = error.extra.get("errors") if isinstance(error, ValidationFailed) else None
    if not errors:
        form.add_error(None, error.message)
        return
    for key, texts in errors.items():
        for text in texts:
            form.add_error(key if key in form.fields else None, str(text))


def _viewer_available() -> bool:
    return bool(finders.find(VIEWER))


@require_GET
def definition_list(request, institution_slug: str):
    _require(request, READERS)
    return render(
        request,
        "bpm/definition_list.html",
        {
            "definitions": selectors.definitions_of(institution=request.institution),
            "is_admin": _is_admin(request),
            "is_worker": bool(request.institution_roles & WORKERS),
        },
    )


@require_http_methods(["GET", "POST"])
def definition_upload(request, institution_slug: str):
    _require(request, frozenset({Role.INSTITUTION_ADMIN}))
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            version = services.definition_upload(
                institution=request.institution, actor=request.user, file_name=upload.name, content=upload.read()
            )
        except ApplicationError as error:
            _service_errors(form, error)
        else:
            messages.success(
                request,
                _("Version %(n)d of “%(name)s” was uploaded.") % {"n": version.number, "name": version.definition.name},
            )
            return redirect("bpm:definition", institution_slug=institution_slug, definition_id=version.definition_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "bpm/definition_upload.html", {"form": form}, status=status)


@require_http_methods(["GET", "POST"])
def definition_detail(request, institution_slug: str, definition_id: int):
    """The versions of a process, its diagram, and (for workers) a form to start an instance."""
    _require(request, READERS)
    definition = selectors.definition_get(institution=request.institution, definition_id=definition_id)
    versions = list(selectors.versions_of(definition=definition))
    form = StartForm(request.POST or None)
    if request.method == "POST":
        _require(request, WORKERS)
        if form.is_valid():
            try:
                instance = services.instance_start(
                    definition=definition, actor=request.user, data=form.cleaned_data["data"]
                )
            except ApplicationError as error:
                _service_errors(form, error)
            else:
                messages.success(request, _("The process was started."))
                return redirect("bpm:instance", institution_slug=institution_slug, instance_id=instance.pk)
    instances = selectors.instances_of(institution=request.institution, definition=definition)[:PER_PAGE]
    return render(
        request,
        "bpm/definition_detail.html",
        {
            "definition": definition,
            "versions": versions,
            "latest": versions[0] if versions else None,
            "instances": instances,
            "form": form,
            "is_worker": bool(request.institution_roles & WORKERS),
            "viewer": _viewer_available(),
        },
        status=400 if request.method == "POST" else 200,
    )


@require_GET
def version_bpmn(request, institution_slug: str, definition_id: int, version_number: int):
    """The stored BPMN file, as uploaded (the diagram viewer reads it)."""
    _require(request, READERS)
    definition = selectors.definition_get(institution=request.institution, definition_id=definition_id)
    version = selectors.version_get(definition=definition, number=version_number)
    response = HttpResponse(bytes(version.content), content_type="application/xml; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{definition.key}-v{version.number}.bpmn"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_GET
def instance_list(request, institution_slug: str):
    _require(request, READERS)
    status = request.GET.get("status", "")
    if status not in {"", *InstanceStatus.values}:
        status = ""
    page = Paginator(selectors.instances_of(institution=request.institution, status=status), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "bpm/instance_list.html",
        {"page": page, "status": status, "statuses": InstanceStatus.choices},
    )


@require_GET
def instance_detail(request, institution_slug: str, instance_id: int):
    _require(request, READERS)
    instance = selectors.instance_get(institution=request.institution, instance_id=instance_id)
    return render(
        request,
        "bpm/instance_detail.html",
        {
            "instance": instance,
            "events": selectors.events_of(instance=instance),
            "work_items": selectors.work_items_of(instance=instance),
            "active": instance.active_steps,
            "active_json": json.dumps(instance.active_elements),
            "viewer": _viewer_available(),
            "newer_versions": (
                [
                    v
                    for v in selectors.versions_of(definition=instance.version.definition)
                    if v.number > instance.version.number
                ]
                if _is_admin(request) and instance.status == InstanceStatus.RUNNING
                else []
            ),
        },
    )


@require_POST
def instance_migrate(request, institution_slug: str, instance_id: int):
    """Move a running instance to a newer version (administrators), or say why it cannot."""
    _require(request, frozenset({Role.INSTITUTION_ADMIN}))
    instance = selectors.instance_get(institution=request.institution, instance_id=instance_id)
    try:
        number = int(request.POST.get("version", ""))
    except ValueError:
        number = 0
    try:
        version = selectors.version_get(definition=instance.version.definition, number=number)
        services.instance_migrate(instance=instance, version=version, actor=request.user)
    except Http404:
        messages.error(request, _("Choose a newer version of the same process."))
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The instance now runs version %(n)d.") % {"n": version.number})
    return redirect("bpm:instance", institution_slug=institution_slug, instance_id=instance.pk)


@require_GET
def queue(request, institution_slug: str):
    _require(request, WORKERS)
    items = selectors.queue(institution=request.institution, roles=request.institution_roles)
    return render(request, "bpm/queue.html", {"items": items, "is_admin": _is_admin(request)})


def _item(request, work_item_id: int):
    item = selectors.work_item_get(institution=request.institution, work_item_id=work_item_id)
    if not _is_admin(request) and item.role not in request.institution_roles:
        raise Http404  # another role's queue is not the caller's to read
    return item


def _people_for(item) -> list:
    return sorted(
        {
            m.user
            for m in Membership.objects.filter(
                institution=item.institution, role__in=[item.role, Role.INSTITUTION_ADMIN]
            ).select_related("user")
        },
        key=lambda u: u.username,
    )


@require_http_methods(["GET", "POST"])
def task_detail(request, institution_slug: str, work_item_id: int):
    """A user task: its form (POST completes it), claim and, for administrators, reassignment."""
    _require(request, WORKERS)
    item = _item(request, work_item_id)
    form = TaskForm(request.POST or None, fields=item.form)
    if request.method == "POST" and form.is_valid():
        try:
            services.work_item_complete(item=item, actor=request.user, values=form.values())
        except ApplicationError as error:
            _service_errors(form, error)
        else:
            messages.success(request, _("The task “%(name)s” is done.") % {"name": item.name})
            return redirect("bpm:queue", institution_slug=institution_slug)
    reassign = ReassignForm(people=_people_for(item)) if _is_admin(request) and item.is_open else None
    return render(
        request,
        "bpm/task.html",
        {
            "item": item,
            "form": form,
            "reassign": reassign,
            "mine": item.assignee_id == request.user.pk,
            "claimable": item.status == WorkItemStatus.OPEN,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
def task_claim(request, institution_slug: str, work_item_id: int):
    _require(request, WORKERS)
    item = _item(request, work_item_id)
    try:
        services.work_item_claim(item=item, actor=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("You claimed “%(name)s”.") % {"name": item.name})
    return redirect("bpm:task", institution_slug=institution_slug, work_item_id=item.pk)


@require_POST
def task_reassign(request, institution_slug: str, work_item_id: int):
    _require(request, frozenset({Role.INSTITUTION_ADMIN}))
    item = _item(request, work_item_id)
    form = ReassignForm(request.POST, people=_people_for(item))
    if form.is_valid():
        assignee = next(p for p in _people_for(item) if p.username == form.cleaned_data["assignee"])
        try:
            services.work_item_reassign(item=item, actor=request.user, assignee=assignee)
        except ApplicationError as error:
            messages.error(request, error.message)
        else:
            messages.success(request, _("The task was given to %(name)s.") % {"name": assignee})
    else:
        messages.error(request, _("Choose a member who holds the task's role."))
    return redirect("bpm:task", institution_slug=institution_slug, work_item_id=item.pk)
