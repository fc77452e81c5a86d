"""`--judge openai`: any OpenAI-compatible chat server (OpenAI, vLLM, Ollama, llama.cpp server) through `AsyncOpenAI`.

Server: `--base_url` or `OPENAI_BASE_URL` (default OpenAI's own). Key: `OPENAI_API_KEY` (local servers that need
none get a placeholder). Model: `--judge_model` or `OPENAI_MODEL`. The verdict is asked for with a `json_schema`
response format; a server that rejects it (HTTP 400) is asked in plain words instead, for the rest of the session.
"""

from __future__ import annotations

from typing import Any

from tracegym.errors import UserError
from tracegym.judges.llm import Completion, LLMJudge, LLMJudgeConfig, LoopLocal, Message
from tracegym.settings import setting

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
PLAIN_JSON_NOTE = "\n\nReply with the JSON object only: no prose before or after it, no code fence."


class OpenAIJudge(LLMJudge):
    name = "openai"
    key_hint = "OPENAI_API_KEY"

    def __init__(self, config: LLMJudgeConfig, api_key: str, base_url: str | None = None) -> None:
        super().__init__(config)
        self.base_url = base_url
        self.json_schema_supported = True  # set False for the session once the server rejects json_schema
        # The key lives only in this closure: not an attribute, so no repr, vars() or pickle shows it.
        self._clients = LoopLocal(
            lambda: _new_client(api_key, base_url, config.timeout), close=lambda client: client.close()
        )

    @classmethod
    def from_settings(cls, settings: Any) -> OpenAIJudge:
        base_url = setting("OPENAI_BASE_URL", settings.base_url)
        api_key = setting("OPENAI_API_KEY")
        if not api_key:
            if not base_url or base_url.rstrip("/") == OPENAI_DEFAULT_URL:
                raise UserError(
                    "the openai judge needs OPENAI_API_KEY (environment or .env), or --base_url of an "
                    "OpenAI-compatible server such as vLLM or Ollama (http://localhost:11434/v1)"
                )
            api_key = "not-needed"  # local servers accept any key
        model = setting("OPENAI_MODEL", settings.judge_model)
        if not model:
            raise UserError("the openai judge needs a model: give --judge_model NAME (or set OPENAI_MODEL)")
        return cls(LLMJudgeConfig.from_settings(settings, model), api_key=api_key, base_url=base_url)

    async def complete(self, messages: list[Message], schema: dict[str, Any]) -> Completion:
        import openai

        client = await self._clients.get()
        if self.json_schema_supported:
            try:
                return await self._create(
                    client,
                    messages,
                    {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": True}},
                )
            except openai.BadRequestError:
                # Servers without structured output answer 400; ask in plain words and remember it if that works.
                completion = await self._create(client, _with_plain_json_note(messages), None)
                self.json_schema_supported = False
                return completion
        return await self._create(client, _with_plain_json_note(messages), None)

    async def _create(self, client: Any, messages: list[Message], response_format: dict[str, Any] | None) -> Completion:
        extra = {"response_format": response_format} if response_format else {}
        response = await client.chat.completions.create(
            model=self.config.model, messages=messages, temperature=0.0, **extra
        )
        usage = response.usage
        return Completion(
            text=(response.choices[0].message.content or "") if response.choices else "",
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )


def _with_plain_json_note(messages: list[Message]) -> list[Message]:
    return [{**m, "content": m["content"] + PLAIN_JSON_NOTE} if m["role"] == "system" else m for m in messages]


def _new_client(api_key: str, base_url: str | None, timeout_seconds: float):
    from openai import AsyncOpenAI

    # max_retries=0: retry.py retries, once, with our bounds and Retry-After handling.
    return AsyncOpenAI(api_key=api_key, base_url=base_url or None, max_retries=0, timeout=timeout_seconds)
