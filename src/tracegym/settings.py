"""Settings from flags, then the environment, then a `.env` file in the working directory."""

from __future__ import annotations

import os
from pathlib import Path

KEY_NAMES = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "HUGGINGFACE_HUB_TOKEN", "HF_TOKEN")
DEFAULT_GEMINI_MODEL = "gemini-2.5-flash"


def dotenv_values_in(directory: Path | None = None) -> dict[str, str]:
    """The key/value pairs of `.env` in `directory` (default: the working directory), or {} when absent."""
    path = (directory or Path.cwd()) / ".env"
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def setting(name: str, flag_value: str | None = None, default: str | None = None) -> str | None:
    """A flag's value if given, else the environment's, else `.env`'s, else `default`."""
    if flag_value not in (None, ""):
        return flag_value
    if os.environ.get(name):
        return os.environ[name]
    return dotenv_values_in().get(name) or default


def redact(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every known key value (from the environment and `.env`) replaced by `***`."""
    values = list(secrets or [])
    env_file = dotenv_values_in()
    for name in KEY_NAMES:
        for source in (os.environ, env_file):
            if source.get(name):
                values.append(source[name])
    for value in sorted(set(values), key=len, reverse=True):
        if len(value) >= 6:
            text = text.replace(value, "***")
    return text
