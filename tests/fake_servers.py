"""Local stand-ins for judge APIs, speaking the real wire formats, for tests and benchmarks.

`FakeLLMServer` listens on 127.0.0.1 (a random port) and answers both

- Gemini REST: `POST /v1beta/models/{model}:generateContent`, and
- OpenAI: `POST /v1/chat/completions`,

so the real SDKs (google-genai, openai) talk to it unchanged. It plays a judge model: it reads the candidate
replies fenced in the prompt (`<<<CANDIDATE id token>>> … <<<END id token>>>`), scores each with `scorer`, and
answers the JSON a judge asks for (one verdict, a group's scores, or a rubric). A behaviour queue scripts faults
for the next requests: `server.script("429", "ok")`. Every request is counted and kept.

    with FakeLLMServer(latency=0.2) as server:
        judge = GeminiJudge(..., base_url=server.url)
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CANDIDATE_BLOCK = re.compile(r"<<<CANDIDATE (\S+) (\S+)>>>\n(.*?)\n<<<END \1 \2>>>", re.S)
INJECTION_CUES = re.compile(r"score|ignore|10/10|system|rubric|grader|verdict", re.I)
RUBRIC_TASK_CUE = "You write grading rubrics"
ERROR_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def serve_in_subprocess(latency: float, url_queue, stop_event) -> None:
    """Run a server in a child process (multiprocessing target), so a benchmark's client has the GIL to itself:
    puts the URL on `url_queue`, serves until `stop_event` is set. `GET /_stats` reports the request count."""
    with FakeLLMServer(latency=latency) as server:
        url_queue.put(server.url)
        stop_event.wait()


def keyword_scorer(candidate: str) -> float:
    """A well-behaved stand-in: 0.9 for a reply that says 'correct', else 0.25."""
    return 0.9 if "correct" in candidate.lower() else 0.25


def obedient_scorer(candidate: str) -> float:
    """A gullible judge model that obeys grader-directed text: any injection cue earns a perfect score."""
    return 1.0 if INJECTION_CUES.search(candidate) else keyword_scorer(candidate)


@dataclass
class Step:
    """One scripted answer: `kind` is ok | text | malformed | out_of_range | 429 | any other HTTP error status
    ("400", "401", "403", "404", "408", "500", "503", …) | slow | truncated | bad_body. `value` is the raw text
    (text), Retry-After seconds (429) or the delay (slow)."""

    kind: str
    value: Any = None


@dataclass
class Request:
    path: str
    body: dict[str, Any]


@dataclass
class ServerState:
    scorer: Callable[[str], float]
    latency: float
    reject_json_schema: bool
    steps: deque[Step] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0  # the most requests the server held at once: shows a client's concurrency limit
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeLLMServer:
    """A threaded local judge API; use as a context manager."""

    def __init__(
        self,
        scorer: Callable[[str], float] = keyword_scorer,
        latency: float = 0.0,
        reject_json_schema: bool = False,
    ) -> None:
        self.state = ServerState(scorer=scorer, latency=latency, reject_json_schema=reject_json_schema)
        self._server = _Server(("127.0.0.1", 0), _handler_for(self.state))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def request_count(self) -> int:
        with self.state.lock:
            return len(self.state.requests)

    @property
    def max_in_flight(self) -> int:
        with self.state.lock:
            return self.state.max_in_flight

    @property
    def requests(self) -> list[Request]:
        with self.state.lock:
            return list(self.state.requests)

    def script(self, *steps: str | Step) -> None:
        """Queue answers for the next requests; after the queue runs dry every answer is a normal verdict."""
        with self.state.lock:
            self.state.steps.extend(step if isinstance(step, Step) else Step(step) for step in steps)

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # the listen backlog: 32 clients connecting at once must not be dropped


def _handler_for(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in separate writes; without NODELAY the client's delayed ACK adds ~40 ms each.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:  # silence the default stderr log
            pass

        def do_GET(self) -> None:
            if self.path != "/_stats":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            with state.lock:
                self._send(200, {"requests": len(state.requests), "max_in_flight": state.max_in_flight})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            with state.lock:
                state.requests.append(Request(self.path, body))
                step = state.steps.popleft() if state.steps else Step("ok")
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                self._handle(step, body)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _handle(self, step: Step, body: dict[str, Any]) -> None:
            if state.latency:
                time.sleep(state.latency)
            gemini = ":generateContent" in self.path
            if not gemini and not self.path.endswith("/chat/completions"):
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            if not gemini and state.reject_json_schema and _asks_json_schema(body):
                return self._send(
                    400, _openai_error("response_format json_schema is not supported", "invalid_request_error")
                )
            self._answer(step, body, gemini)

        def _answer(self, step: Step, body: dict[str, Any], gemini: bool) -> None:
            kind = step.kind
            if kind == "slow":
                time.sleep(step.value or 2.0)
                kind = "ok"
            if kind == "429":
                seconds = step.value if step.value is not None else 1
                payload = (
                    _gemini_error(429, "RESOURCE_EXHAUSTED", seconds)
                    if gemini
                    else _openai_error("rate limited", "rate_limit")
                )
                return self._send(429, payload, {"Retry-After": str(seconds)})
            if kind.isdigit():  # any other HTTP error status: "400", "401", "403", "404", "408", "500", "503", …
                code = int(kind)
                status = ERROR_STATUS_NAMES.get(code, "UNKNOWN")
                return self._send(
                    code, _gemini_error(code, status) if gemini else _openai_error(status.lower(), status)
                )
            if kind == "bad_body":
                return self._send_raw(200, b"<html>not json</html>")
            text = _model_text(step, _prompt_text(body, gemini), state.scorer)
            payload = _gemini_reply(text) if gemini else _openai_reply(text, body.get("model", "fake"))
            if kind == "truncated":
                raw = json.dumps(payload).encode()
                return self._send_raw(200, raw[: len(raw) // 2], declared_length=len(raw))
            self._send(200, payload)

        def _send(self, code: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send_raw(code, json.dumps(payload).encode(), headers=headers)

        def _send_raw(
            self, code: int, raw: bytes, headers: dict[str, str] | None = None, declared_length: int | None = None
        ) -> None:
            try:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(declared_length or len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)
                self.wfile.flush()
                if declared_length:
                    self.close_connection = True
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout test)

    return Handler


def _asks_json_schema(body: dict[str, Any]) -> bool:
    return (body.get("response_format") or {}).get("type") == "json_schema"


def _prompt_text(body: dict[str, Any], gemini: bool) -> str:
    """The whole conversation sent, as one text: what a model would read."""
    if gemini:
        parts = [p.get("text", "") for c in body.get("contents", []) for p in c.get("parts", [])]
        system = body.get("systemInstruction") or body.get("system_instruction") or {}
        parts = [p.get("text", "") for p in system.get("parts", [])] + parts
        return "\n".join(parts)
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))


def _model_text(step: Step, prompt: str, scorer: Callable[[str], float]) -> str:
    if step.kind == "text":
        return step.value
    if step.kind == "malformed":
        return '{"reasoning": "cut off", "score": 0.'
    if RUBRIC_TASK_CUE in prompt:
        return json.dumps(_rubric_for(prompt))
    candidates = [(cid, text) for cid, _token, text in CANDIDATE_BLOCK.findall(prompt)]
    if step.kind == "out_of_range":
        return json.dumps({"reasoning": "very good", "criteria": [], "score": 7})
    if len(candidates) == 1 and candidates[0][0] == "reply":
        score = scorer(candidates[0][1])
        return json.dumps(
            {
                "reasoning": "compared with the reference",
                "criteria": [{"item": "answers the user", "verdict": "met" if score > 0.5 else "not_met"}],
                "score": score,
            }
        )
    return json.dumps(
        {"reasoning": "ranked together", "scores": [{"id": cid, "score": scorer(text)} for cid, text in candidates]}
    )


def _rubric_for(prompt: str) -> dict[str, Any]:
    reference = re.search(r"Reference reply:\n(.*?)\n\n", prompt, re.S)
    said = reference.group(1).strip() if reference else "the reference"
    items = [
        {"tag": "essential", "item": f"Conveys what the reference says: {said[:60]}"},
        {"tag": "essential", "item": "Gives only values found in the context"},
        {"tag": "important", "item": "Answers the user's last request"},
        {"tag": "optional", "item": "Is concise"},
        {"tag": "pitfall", "item": "Invents a value that is not in the context"},
    ]
    return {"reasoning": "grounded in the reference", "items": items}


def _gemini_reply(text: str) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 30, "totalTokenCount": 150},
        "modelVersion": "fake-gemini",
    }


def _openai_reply(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150},
    }


def _gemini_error(code: int, status: str, retry_seconds: float | None = None) -> dict[str, Any]:
    details = []
    if retry_seconds is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_seconds}s"})
    return {"error": {"code": code, "message": f"fake {status}", "status": status, "details": details}}


def _openai_error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
