"""The script engine of every BPMN instance: safe expressions and assignments, never Python.

SpiffWorkflow evaluates gateway conditions, timer expressions and script tasks through its
script engine, which by default calls `eval` and `exec`. An uploaded file must not run
arbitrary Python, so `SafeScriptEngine` replaces both with simpleeval (as the agents' rules
engine does, apps/agents/engines/rules.py):

- an expression reads the task data by name (`crowd > 500`, `applicant["age"]`,
  `applicant.age`), with a handful of pure functions; no underscore names, no imports, no
  attribute beyond data fields, no calls other than the listed functions;
- a script is lines of `name = expression` (and `#` comments), each expression evaluated as
  above and stored in the task data; anything else (import, def, loops, attribute or
  subscript targets) is refused.

`check_expression` and `check_script` refuse the same things statically, so an upload is
refused with a clear message before anything runs.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from typing import Any

import simpleeval
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

MAX_EXPRESSION_LENGTH = 2000
MAX_SCRIPT_LINES = 100
MAX_DATA_BYTES = 200_000

SAFE_FUNCTIONS = {
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "len": len,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}

# ISO 8601 durations, dates and repeating intervals, as modelers write timers (PT1H, R3/PT10M)
ISO_TIMER = re.compile(r"^(R\d*/)?(P[0-9YMWDTHS.,]+|\d{4}-\d\d-\d\d[0-9T:.+\-Z]*)(/P[0-9YMWDTHS.,]+)?$")

_ALLOWED_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Call,
    ast.Constant,
    ast.Name,
    ast.Load,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.List,
    ast.Tuple,
    ast.Dict,
)


class UnsafeExpression(ValueError):
    """An expression or script outside the safe subset; the message says why."""


def check_expression(expression: Any) -> ast.Expression:
    """Parse an expression and refuse anything outside the safe subset.

    Raises: UnsafeExpression."""
    if not isinstance(expression, str) or not expression.strip():
        raise UnsafeExpression("an expression must be non-empty text")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise UnsafeExpression(f"an expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnsafeExpression(f"{expression!r} is not a valid expression ({exc.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            raise UnsafeExpression(f"{type(node).__name__} is not allowed in {expression!r}")
        if isinstance(node, ast.Name) and node.id.startswith("_"):
            raise UnsafeExpression(f"the name {node.id!r} is not allowed (names may not start with _)")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise UnsafeExpression(f"the attribute {node.attr!r} is not allowed")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in SAFE_FUNCTIONS):
            raise UnsafeExpression(
                f"only these functions may be called: {', '.join(sorted(SAFE_FUNCTIONS))} (in {expression!r})"
            )
        if isinstance(node, ast.Call) and node.keywords:
            raise UnsafeExpression(f"keyword arguments are not allowed (in {expression!r})")
    return tree


def check_script(script: Any) -> list[tuple[str, str]]:
    """Split a script into (name, expression) assignments; refuse anything else.

    Raises: UnsafeExpression."""
    if not isinstance(script, str):
        raise UnsafeExpression("a script must be text")
    try:
        module = ast.parse(script)
    except SyntaxError as exc:
        raise UnsafeExpression(f"line {exc.lineno}: not valid ({exc.msg})") from None
    if len(module.body) > MAX_SCRIPT_LINES:
        raise UnsafeExpression(f"a script may have at most {MAX_SCRIPT_LINES} assignments")
    assignments = []
    for statement in module.body:
        line = statement.lineno
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            raise UnsafeExpression(f"line {line}: imports are not allowed")
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1:
            raise UnsafeExpression(f"line {line}: only assignments of the form name = expression are allowed")
        target = statement.targets[0]
        if not isinstance(target, ast.Name) or target.id.startswith("_"):
            raise UnsafeExpression(f"line {line}: assign to a plain name that does not start with _")
        expression = ast.get_source_segment(script, statement.value) or ""
        try:
            check_expression(expression)
        except UnsafeExpression as exc:
            raise UnsafeExpression(f"line {line}: {exc}") from None
        assignments.append((target.id, expression))
    return assignments


def _plain(value: Any) -> Any:
    """Task data stays plain JSON: what an expression returns must be storable."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise UnsafeExpression(f"the value {value!r} cannot be stored in the process data") from None


def evaluate(expression: str, data: Mapping[str, Any]) -> Any:
    """Evaluate a checked expression over the task data.

    Raises: UnsafeExpression (refused or failed)."""
    check_expression(expression)
    names = {k: v for k, v in dict(data).items() if isinstance(k, str) and not k.startswith("_")}
    evaluator = simpleeval.EvalWithCompoundTypes(functions=dict(SAFE_FUNCTIONS), names=names)
    try:
        return evaluator.eval(expression.strip())
    except simpleeval.NameNotDefined as exc:
        raise UnsafeExpression(f"{expression!r} reads {exc.name!r}, which the process data does not have") from None
    except simpleeval.InvalidExpression as exc:
        raise UnsafeExpression(f"{expression!r} was refused: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, AttributeError, KeyError, IndexError) as exc:
        raise UnsafeExpression(f"{expression!r} could not be evaluated: {exc}") from None


def run_script(script: str, data: dict[str, Any]) -> None:
    """Run a checked script's assignments into `data`, in order.

    Raises: UnsafeExpression."""
    for name, expression in check_script(script):
        data[name] = _plain(evaluate(expression, data))


class _NoPythonEnvironment(BasePythonScriptEngineEnvironment):
    """Spiff's environment hook is never reached: the engine below overrides every entry."""

    def evaluate(self, expression, context, external_context=None):
        raise UnsafeExpression("Python evaluation is disabled")

    def execute(self, script, context, external_context=None):
        raise UnsafeExpression("Python execution is disabled")

    def call_service(self, context, **kwargs):
        raise UnsafeExpression("service calls run as Civitas actions")


class SafeScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's script engine with simpleeval in place of eval/exec."""

    def __init__(self):
        super().__init__(environment=_NoPythonEnvironment())

    def validate(self, expression):
        check_expression(expression)

    def evaluate(self, task, expression, external_context=None):
        spec = getattr(task, "task_spec", None)
        if isinstance(getattr(spec, "event_definition", None), TimerEventDefinition) and ISO_TIMER.match(
            str(expression).strip()
        ):
            return str(expression).strip()  # modelers write timers unquoted: PT1H
        try:
            return evaluate(expression, task.data)
        except UnsafeExpression as exc:
            raise WorkflowTaskException(str(exc), task=task) from None

    def execute(self, task, script, external_context=None):
        try:
            run_script(script, task.data)
        except UnsafeExpression as exc:
            raise WorkflowTaskException(str(exc), task=task) from None
        return True

    def call_service(self, task, **kwargs):
        raise WorkflowTaskException("service tasks run as Civitas actions", task=task)


SAFE_ENGINE = SafeScriptEngine()
