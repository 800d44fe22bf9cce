"""An uploaded process cannot run Python: not to read files, import modules, reach dunder attributes or the network."""

from __future__ import annotations

from unittest import mock

import pytest

from apps.bpm import engine
from apps.bpm.engine import UnsafeExpression, evaluate, run_script
from apps.bpm.models import InstanceStatus, ProcessVersion
from apps.bpm.tests.factories import start, upload

ATTACKS = [
    "__import__('os').system('touch /tmp/pwned')",
    "open('/etc/passwd').read()",
    "x.__class__.__mro__[1].__subclasses__()",
    "x.__class__",
    "getattr(x, 'real')",
    "eval('1')",
    "exec('import os')",
    "globals()",
    "urllib.request.urlopen('http://example.org')",
    "socket.create_connection(('example.org', 80))",
    "'{0.__class__}'.format(x)",
    "[c for c in ().__class__.__bases__]",
    "'a' * 10**9",
    "10**10**10",
    "tags.append(1)",
]


@pytest.mark.parametrize("expression", ATTACKS)
def test_expressions_cannot_escape(expression):
    with pytest.raises(UnsafeExpression):
        evaluate(expression, {"x": 1})


@pytest.mark.parametrize(
    "script", ["import os", "import socket\nx = 1", "x = __import__('os')", "x.y = 1", "os.system('id')"]
)
def test_scripts_cannot_escape(script):
    data = {"x": 1}
    with pytest.raises(UnsafeExpression):
        run_script(script, data)
    assert data == {"x": 1}


def test_the_safe_subset_does_what_processes_need():
    data = {"crowd": 600, "applicant": {"age": 30, "name": "Clara"}, "tags": ["music"]}
    assert evaluate("crowd > 500 and applicant['age'] >= 18", data) is True
    assert evaluate("applicant.name", data) == "Clara"
    assert evaluate("'music' in tags", data) is True
    run_script("fee = max(crowd * 2, 100)\nlabel = 'large' if fee > 1000 else 'small'\n# a comment", data)
    assert (data["fee"], data["label"]) == (1200, "large")


@pytest.mark.django_db
def test_a_tampered_stored_script_still_cannot_run_python(aurelia, ada, alice):
    """Even past the upload check (a row edited in the database), the engine refuses Python."""
    version = upload(aurelia, ada)
    spec = version.spec
    spec["spec"]["task_specs"]["score"]["script"] = "import os\nos.system('touch /tmp/pwned')"
    ProcessVersion.all_institutions.filter(pk=version.pk).update(spec=spec)
    version.refresh_from_db()
    with mock.patch("os.system") as system, mock.patch("builtins.__import__", wraps=__import__) as imported:
        instance = start(version, alice, {"crowd": 1})
    system.assert_not_called()
    assert not any(call.args and call.args[0] == "os" and call.args[1] for call in imported.call_args_list)
    assert instance.status == InstanceStatus.FAILED
    assert "imports are not allowed" in instance.error


@pytest.mark.django_db
def test_every_loaded_workflow_runs_on_the_safe_engine(aurelia, ada, alice):
    from apps.bpm.services import _workflow_load

    instance = start(upload(aurelia, ada), alice, {"crowd": 1})
    workflow = _workflow_load(instance)
    assert workflow.script_engine is engine.SAFE_ENGINE
    # Spiff's own eval/exec hook is never reachable
    with pytest.raises(UnsafeExpression):
        engine.SAFE_ENGINE.environment.evaluate("1", {})
    with pytest.raises(UnsafeExpression):
        engine.SAFE_ENGINE.environment.execute("x = 1", {})
