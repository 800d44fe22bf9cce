"""LLM engine against a fake OpenAI-compatible server on loopback: good, malformed, slow and failing answers."""

import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.agents.engines import EngineError, run_engine
from apps.agents.proposals import Task
from apps.agents.validation import validate

TASK = Task(
    "event_permit",
    {"crowd_size": 120, "fee_paid": True, "zone": "park"},
    {"site-plan": ["2"]},
    institution_id=1,
)
HONEST = {
    "decision": "approve",
    "confidence": 0.82,
    "explanation": "Your event is small, the fee is paid and the site plan is in order.",
    "claims": [
        {
            "statement": "The event is small and the fee is paid.",
            "evidence": [
                {"kind": "field", "ref": "crowd_size", "value": 120},
                {"kind": "field", "ref": "fee_paid", "value": True},
            ],
        },
        {
            "statement": "The site plan was provided.",
            "evidence": [{"kind": "document", "ref": "site-plan@2", "value": None}],
        },
    ],
}


def completion(content):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
    }


class FakeChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = 200
        self.body: bytes = b""
        self.delay = 0.0
        self.requests: list[dict] = []

    def answer(self, content=None, *, raw=None, status=200, delay=0.0):
        self.status, self.delay = status, delay
        self.body = raw if raw is not None else json.dumps(completion(content)).encode()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        server: FakeChatServer = self.server
        length = int(self.headers.get("Content-Length", 0))
        server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": json.loads(self.rfile.read(length))}
        )
        if server.delay:
            time.sleep(server.delay)
        self.send_response(server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(server.body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client gave up (timeout test)
            self.wfile.write(server.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = FakeChatServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def config(server, monkeypatch):
    monkeypatch.setenv("CIVITAS_TEST_LLM_KEY", "sk-test-secret")
    return {
        "base_url": f"http://127.0.0.1:{server.server_address[1]}/v1",
        "model": "fake-model",
        "api_key_env": "CIVITAS_TEST_LLM_KEY",
        "timeout": 0.5,
    }


def test_structured_answer_becomes_a_proposal(server, config):
    server.answer(json.dumps(HONEST))
    proposal = run_engine("llm", TASK, config)
    assert proposal.decision == "approve" and proposal.confidence == 0.82
    assert proposal.engine == "llm" and "fake-model" in proposal.engine_version
    assert validate(proposal, TASK).accepted

    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test-secret"
    body = request["body"]
    assert body["model"] == "fake-model"
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == [
        "decision",
        "confidence",
        "explanation",
        "claims",
    ]
    assert json.loads(body["messages"][1]["content"])["record"] == TASK.record


def test_json_mode_and_a_fenced_answer(server, config):
    server.answer("```json\n" + json.dumps(HONEST) + "\n```")
    proposal = run_engine("llm", TASK, {**config, "response_format": "json_object"})
    assert proposal.decision == "approve"
    assert server.requests[0]["body"]["response_format"] == {"type": "json_object"}


def test_the_model_cannot_claim_to_be_another_engine(server, config):
    server.answer(json.dumps({**HONEST, "engine": "rules", "engine_version": "9"}))
    proposal = run_engine("llm", TASK, config)
    assert proposal.engine == "llm"


def test_a_hallucinating_model_is_caught_by_the_validator(server, config):
    lie = {
        **HONEST,
        "claims": [
            {
                "statement": "The organiser has a licence.",
                "evidence": [{"kind": "field", "ref": "licence_number", "value": "L-77"}],
            }
        ],
    }
    server.answer(json.dumps(lie))
    report = validate(run_engine("llm", TASK, config), TASK)
    assert not report.accepted and report.findings[0].kind == "hallucination"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"content": "I think you should approve it."}, "not valid JSON"),
        ({"content": "[1, 2]"}, "not a JSON object"),
        ({"content": json.dumps({"decision": "approve"})}, "not a valid proposal: The proposal lacks"),
        ({"content": json.dumps({**HONEST, "confidence": 7})}, "between 0 and 1"),
        ({"raw": b"<html>gateway</html>"}, "chat-completions format"),
        ({"raw": json.dumps({"choices": []}).encode()}, "chat-completions format"),
        ({"raw": json.dumps(completion(None)).encode()}, "without any content"),
        ({"content": json.dumps(HONEST), "status": 500}, "answered HTTP 500"),
        ({"content": json.dumps(HONEST), "status": 429}, "answered HTTP 429"),
    ],
)
def test_bad_answers_are_engine_errors(server, config, answer, message):
    server.answer(answer.get("content"), raw=answer.get("raw"), status=answer.get("status", 200))
    with pytest.raises(EngineError, match=message) as caught:
        run_engine("llm", TASK, config)
    assert "sk-test-secret" not in caught.value.message


def test_slow_answer_times_out(server, config):
    server.answer(json.dumps(HONEST), delay=1.5)
    with pytest.raises(EngineError, match=r"did not answer within 0\.5 seconds") as caught:
        run_engine("llm", TASK, config)
    assert caught.value.code == "engine_timeout"


def test_unreachable_endpoint(config):
    with pytest.raises(EngineError, match="could not be reached"):
        run_engine("llm", TASK, {**config, "base_url": "http://127.0.0.1:9/v1"})


def test_the_key_itself_is_never_accepted_in_config(config):
    with pytest.raises(EngineError, match="name the environment variable"):
        run_engine("llm", TASK, {**config, "api_key": "sk-live"})


def test_named_key_variable_must_be_set(config, monkeypatch):
    monkeypatch.delenv("CIVITAS_TEST_LLM_KEY")
    with pytest.raises(EngineError, match=r"CIVITAS_TEST_LLM_KEY .* is not set"):
        run_engine("llm", TASK, config)


def test_without_a_key_variable_no_authorization_is_sent(server, config):
    server.answer(json.dumps(HONEST))
    run_engine("llm", TASK, {k: v for k, v in config.items() if k != "api_key_env"})
    assert "Authorization" not in server.requests[0]["headers"]
