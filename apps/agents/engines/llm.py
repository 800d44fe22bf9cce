"""LLM engine (optional): any OpenAI-compatible chat-completions endpoint the institution configures.

Config:
    {"base_url": "http://127.0.0.1:8080/v1", "model": "local-model",
     "api_key_env": "CIVITAS_LLM_API_KEY",   # the NAME of an environment variable, never the key
     "timeout": 20, "response_format": "json_schema" | "json_object", "max_tokens": 1500}

The model is asked for JSON matching the proposal schema; every failure (no answer in
time, HTTP error, a body that is not the API's shape, content that is not JSON, JSON that
is not a proposal) raises EngineError, which the cluster treats as no proposal. Whatever
the model says is then checked claim by claim by the validator like any other engine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import requests

from apps.agents.engines.base import EngineError, register_engine
from apps.agents.proposals import Proposal, ProposalShapeError, Task, proposal_json_schema

DEFAULT_TIMEOUT = 20.0
MAX_TIMEOUT = 120.0
MAX_RESPONSE_BYTES = 1_000_000

SYSTEM_PROMPT = """You assist a public institution. Propose a decision on the task you are given.
Answer with one JSON object and nothing else, matching this JSON Schema:
{schema}
Rules: every claim must cite evidence. Evidence of kind "field" cites a field of the record by its
dotted path (ref) with the exact value the record holds; "document" cites "document-id@version"
from the documents listed; "rule" cites "rule-id@version"; "precedent" cites a past decision id.
Cite only what the task contains: invented evidence gets the proposal rejected. The explanation is
for the citizen concerned: plain language, no jargon. Confidence is between 0 and 1."""


class LLMEngine:
    name = "llm"
    version = "1"

    def _settings(self, config: Mapping[str, Any]) -> dict:
        if "api_key" in config:
            raise EngineError(
                "The LLM engine's config holds an API key; name the environment variable that holds it "
                "in 'api_key_env' instead.",
                code="engine_misconfigured",
            )
        base_url = config.get("base_url")
        model = config.get("model")
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise EngineError("The LLM engine needs an http(s) 'base_url'.", code="engine_misconfigured")
        if not isinstance(model, str) or not model:
            raise EngineError("The LLM engine needs a 'model' name.", code="engine_misconfigured")
        headers = {"Content-Type": "application/json"}
        key_env = config.get("api_key_env")
        if key_env:
            key = os.environ.get(str(key_env))
            if not key:
                raise EngineError(
                    f"The environment variable {key_env} named by the LLM engine's config is not set.",
                    code="engine_misconfigured",
                )
            headers["Authorization"] = f"Bearer {key}"
        try:
            timeout = min(float(config.get("timeout", DEFAULT_TIMEOUT)), MAX_TIMEOUT)
        except (TypeError, ValueError):
            raise EngineError("The LLM engine's 'timeout' must be a number of seconds.") from None
        mode = config.get("response_format", "json_schema")
        if mode not in ("json_schema", "json_object"):
            raise EngineError("The LLM engine's 'response_format' must be 'json_schema' or 'json_object'.")
        return {
            "url": base_url.rstrip("/") + "/chat/completions",
            "model": model,
            "headers": headers,
            "timeout": timeout,
            "mode": mode,
            "max_tokens": int(config.get("max_tokens", 1500)),
        }

    def _request_body(self, task: Task, settings: dict, config: Mapping[str, Any]) -> dict:
        schema = proposal_json_schema()
        if settings["mode"] == "json_schema":
            response_format = {
                "type": "json_schema",
                "json_schema": {"name": "proposal", "strict": True, "schema": schema},
            }
        else:
            response_format = {"type": "json_object"}
        task_text = json.dumps(
            {
                "task_type": task.task_type,
                "record": task.record,
                "documents": task.documents,
                "rules": config.get("rules", []),
                "instructions": config.get("instructions", ""),
            },
            default=str,
            ensure_ascii=False,
        )
        return {
            "model": settings["model"],
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT.format(schema=json.dumps(schema))},
                {"role": "user", "content": task_text},
            ],
            "response_format": response_format,
            "temperature": 0,
            "max_tokens": settings["max_tokens"],
        }

    def propose(self, task: Task, config: Mapping[str, Any]) -> Proposal:
        settings = self._settings(config)
        body = self._request_body(task, settings, config)
        where = f"The LLM endpoint ({settings['url']})"
        try:
            response = requests.post(
                settings["url"], json=body, headers=settings["headers"], timeout=settings["timeout"]
            )
        except requests.Timeout as exc:
            raise EngineError(
                f"{where} did not answer within {settings['timeout']:g} seconds.", code="engine_timeout"
            ) from exc
        except requests.RequestException as exc:
            raise EngineError(
                f"{where} could not be reached: {type(exc).__name__}.", code="engine_unreachable"
            ) from exc
        if response.status_code != 200:
            raise EngineError(f"{where} answered HTTP {response.status_code}.", code="engine_http_error")
        if len(response.content) > MAX_RESPONSE_BYTES:
            raise EngineError(f"{where} answered more than {MAX_RESPONSE_BYTES} bytes.")
        try:
            payload = response.json()
            message = payload["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise EngineError(
                f"{where} did not answer in the chat-completions format.", code="engine_bad_answer"
            ) from exc
        if not isinstance(message, dict):
            raise EngineError(f"{where} did not answer in the chat-completions format.", code="engine_bad_answer")
        if message.get("refusal"):
            raise EngineError(f"The model declined to propose: {str(message['refusal'])[:200]}", code="engine_refused")
        content = message.get("content")
        if not isinstance(content, str):
            raise EngineError(f"{where} answered without any content.", code="engine_bad_answer")
        try:
            data = json.loads(_strip_fence(content))
        except ValueError as exc:
            raise EngineError(f"The model's answer is not valid JSON: {exc}.", code="engine_bad_answer") from exc
        if not isinstance(data, dict):
            raise EngineError("The model's answer is not a JSON object.", code="engine_bad_answer")
        if "engine" in data or "engine_version" in data:
            # The engine, not the model, says who spoke.
            data = {k: v for k, v in data.items() if k not in ("engine", "engine_version")}
        try:
            return Proposal.from_dict(
                {**data, "engine": self.name, "engine_version": f"{self.version}; {settings['model']}"}
            )
        except ProposalShapeError as exc:
            raise EngineError(
                f"The model's answer is not a valid proposal: {exc.message}", code="engine_bad_answer"
            ) from exc


def _strip_fence(content: str) -> str:
    """JSON mode should give bare JSON, but some servers wrap it in a ```json fence anyway."""
    text = content.strip()
    if text.startswith("```"):
        text = text.split("\n", 1)[1] if "\n" in text else ""
        text = text.rsplit("```", 1)[0]
    return text


llm_engine = register_engine(LLMEngine())
