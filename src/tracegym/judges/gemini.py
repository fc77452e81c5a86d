"""`--judge gemini`: Google's Gemini through the google-genai SDK's async client, with a JSON response schema.

Key: `GEMINI_API_KEY` or `GOOGLE_API_KEY` (flag → environment → `.env`). Model: `--judge_model` or `GEMINI_MODEL`
(default gemini-2.5-flash). `GEMINI_THINKING_BUDGET` sets the thinking budget in tokens (0 turns thinking off on
models that allow it; unset leaves the model's default). `GEMINI_BASE_URL` or `--base_url` points the client at
another endpoint (a proxy, or the local test server).
"""

from __future__ import annotations

import logging
from typing import Any

from tracegym.errors import UserError
from tracegym.judges.llm import Completion, LLMJudge, LLMJudgeConfig, LoopLocal, Message
from tracegym.settings import DEFAULT_GEMINI_MODEL, setting


class GeminiJudge(LLMJudge):
    name = "gemini"
    key_hint = "GEMINI_API_KEY or GOOGLE_API_KEY"

    def __init__(
        self,
        config: LLMJudgeConfig,
        api_key: str,
        base_url: str | None = None,
        thinking_budget: int | None = None,
    ) -> None:
        super().__init__(config, thinking_budget=thinking_budget)
        self.thinking_budget = thinking_budget
        # The key lives only in this closure: not an attribute, so no repr, vars() or pickle shows it.
        self._clients = LoopLocal(
            lambda: _new_client(api_key, base_url, config.timeout), close=lambda client: client.aio.aclose()
        )

    @classmethod
    def from_settings(cls, settings: Any) -> GeminiJudge:
        api_key = setting("GEMINI_API_KEY") or setting("GOOGLE_API_KEY")
        if not api_key:
            raise UserError(
                "the gemini judge needs an API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) in the environment or "
                "in a .env file in this folder (get one at https://aistudio.google.com/apikey); offline, use --judge acts "
                "(for prepare: leave out --with_rubric, and the rubrics are compiled from the acts)"
            )
        model = setting("GEMINI_MODEL", settings.judge_model, DEFAULT_GEMINI_MODEL)
        budget_text = setting("GEMINI_THINKING_BUDGET")
        try:
            thinking_budget = int(budget_text) if budget_text else None
        except ValueError:
            raise UserError(
                f"GEMINI_THINKING_BUDGET={budget_text!r}: must be a whole number of tokens (0 turns thinking off)"
            ) from None
        return cls(
            LLMJudgeConfig.from_settings(settings, model),
            api_key=api_key,
            base_url=setting("GEMINI_BASE_URL", settings.base_url),
            thinking_budget=thinking_budget,
        )

    async def complete(self, messages: list[Message], schema: dict[str, Any]) -> Completion:
        from google.genai import types

        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        contents = [
            types.Content(role="model" if m["role"] == "assistant" else "user", parts=[types.Part(text=m["content"])])
            for m in messages
            if m["role"] != "system"
        ]
        config = types.GenerateContentConfig(
            system_instruction=system or None,
            temperature=0.0,
            response_mime_type="application/json",
            response_json_schema=schema,
            thinking_config=types.ThinkingConfig(thinking_budget=self.thinking_budget)
            if self.thinking_budget is not None
            else None,
        )
        client = await self._clients.get()
        response = await client.aio.models.generate_content(model=self.config.model, contents=contents, config=config)
        usage = response.usage_metadata
        output_tokens = ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0
        return Completion(
            text=response.text or "",
            input_tokens=(usage.prompt_token_count or 0) if usage else 0,
            output_tokens=output_tokens,
        )


class _DropEnvKeyNotice(logging.Filter):
    """The SDK announces which environment key it would use even when given one explicitly; since we pass the
    key ourselves (GEMINI_API_KEY first), that notice is wrong here, and noise on every run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "GOOGLE_API_KEY and GEMINI_API_KEY are set" not in record.getMessage()


def _new_client(api_key: str, base_url: str | None, timeout_seconds: float):
    from google import genai
    from google.genai import types

    sdk_logger = logging.getLogger("google_genai._api_client")
    if not any(isinstance(f, _DropEnvKeyNotice) for f in sdk_logger.filters):
        sdk_logger.addFilter(_DropEnvKeyNotice())

    # No retry_options: the SDK then retries nothing, and retry.py does it once, with our bounds.
    options = types.HttpOptions(timeout=int(timeout_seconds * 1000), base_url=base_url or None)
    return genai.Client(api_key=api_key, http_options=options)
