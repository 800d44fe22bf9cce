"""`manage.py audit verify|sequence|sign`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent, SignedTreeHead
from apps.audit.tests.helpers import record
from apps.audit.tests.test_verify import FAR, build_log, rewrite_hashes_from


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("audit", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: str) -> tuple[CommandError, str]:
    out = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("audit", *args, stdout=out, stderr=StringIO())
    return excinfo.value, out.getvalue()


@pytest.mark.django_db
def test_verify_passes_on_a_clean_log_and_prints_a_summary(aurelia):
    events = build_log(aurelia, sign_at=(4,))
    out, err = run("verify")
    assert "entries:    8" in out
    assert "tree heads: 2" in out
    assert f"root:       {events[-1].root_after}" in out
    assert "OK" in out
    assert err == ""  # a small log shows no progress


@pytest.mark.django_db
def test_verify_shows_progress_on_stderr_for_big_logs(aurelia):
    build_log(aurelia, entries=7)
    out, err = run("verify", "--chunk-size", "3")
    assert "verified 3 of 7 entries" in err
    assert "verified 7 of 7 entries (100%)" in err
    assert "verified" not in out


@pytest.mark.django_db
def test_verify_names_a_changed_entry_and_fails(aurelia):
    events = build_log(aurelia)
    AuditEvent.objects.filter(sequence=3).update(action="x")
    error, out = run_failing("verify")
    assert error.returncode == 1
    assert f"entry #3 (row id {events[3].id}): content does not match its leaf hash" in out
    assert "FAILED: 1 finding" in out


@pytest.mark.django_db
def test_verify_names_a_deleted_entry_and_fails(aurelia):
    build_log(aurelia)
    AuditEvent.objects.filter(sequence=3).delete()
    error, out = run_failing("verify")
    assert error.returncode == 1
    assert "entry #3: entry is missing" in out


@pytest.mark.django_db
def test_verify_names_swapped_entries_and_fails(aurelia):
    events = build_log(aurelia)
    a, b = events[2], events[6]
    AuditEvent.objects.filter(pk=a.pk).update(sequence=FAR)
    AuditEvent.objects.filter(pk=b.pk).update(sequence=2)
    AuditEvent.objects.filter(pk=a.pk).update(sequence=6)
    error, out = run_failing("verify")
    assert error.returncode == 1
    assert f"entry #2 (row id {b.id}): content does not match" in out
    assert f"entry #6 (row id {a.id}): content does not match" in out


@pytest.mark.django_db
def test_verify_catches_rewritten_hashes_through_the_signed_tree_head(aurelia):
    events = build_log(aurelia, sign_at=(3, 4))
    AuditEvent.objects.filter(sequence=3).update(action="x")
    rewrite_hashes_from(3)
    error, out = run_failing("verify")
    assert error.returncode == 1
    assert f"entry #3 (row id {events[3].id}): the log no longer hashes to the root signed at size 4" in out


@pytest.mark.django_db
def test_exit_status_from_the_command_line(aurelia, capsys, monkeypatch):
    # run_from_argv closes every connection when done, which would end the test's transaction.
    monkeypatch.setattr("django.core.management.base.connections.close_all", lambda: None)
    build_log(aurelia)
    execute_from_command_line(["manage.py", "audit", "verify"])  # returns: exit status 0
    assert "OK" in capsys.readouterr().out

    AuditEvent.objects.filter(sequence=3).update(action="x")
    with pytest.raises(SystemExit) as excinfo:
        execute_from_command_line(["manage.py", "audit", "verify"])
    assert excinfo.value.code == 1
    captured = capsys.readouterr()
    assert "entry #3" in captured.out
    assert "failed verification" in captured.err


@pytest.mark.django_db
def test_sequence_gives_pending_events_their_positions(aurelia):
    record(aurelia, 3)
    out, _ = run("sequence")
    assert "sequenced 3 event(s); the log holds 3 entries" in out
    assert list(AuditEvent.objects.order_by("sequence").values_list("sequence", flat=True)) == [0, 1, 2]
    out, _ = run("sequence")
    assert "sequenced 0 event(s)" in out


@pytest.mark.django_db
def test_sign_signs_only_when_the_log_grew_unless_forced(aurelia):
    record(aurelia, 2)
    out, _ = run("sign")
    sth = SignedTreeHead.objects.get()
    assert f"signed tree head: size {sth.tree_size}, root {sth.root_hash}" in out

    out, _ = run("sign")
    assert "nothing signed" in out
    assert SignedTreeHead.objects.count() == 1

    run("sign", "--force")
    assert SignedTreeHead.objects.count() == 2


@pytest.mark.django_db
def test_a_subcommand_is_required():
    with pytest.raises(CommandError, match=r"required: \{verify,sequence,sign\}"):
        call_command("audit")
