"""The messages an LLM judge sends: versioned prompt files, the user's template, and the fenced candidate.

Messages are built from versioned prompt files in `prompts/` (`judge_v1.txt`, `group_v1.txt`): a `### system`
part, fixed, that holds the rules and the output format, and a `### user` part, a template with named fields
({task}, {context}, {reference}, {rubric}, {criteria}, {candidate}) that `--judge_prompt FILE` may replace.

The candidate is untrusted: it is fenced between `<<<CANDIDATE id TOKEN>>>` and `<<<END id TOKEN>>>` with a random
TOKEN drawn per call, and `<<<` / `>>>` inside it are defused, so it cannot close its own fence.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path

from tracegym.errors import UserError
from tracegym.samples import Sample

PROMPTS_DIR = Path(__file__).parent / "prompts"
TEMPLATE_FIELDS = ("task", "context", "reference", "rubric", "criteria", "candidate")
NO_RUBRIC = "(no rubric: judge against the reference reply)"
MAX_CONTEXT_CHARS = 6000

Message = dict[str, str]


@dataclass(frozen=True)
class PromptFile:
    """A versioned prompt: `name` is the file stem (`judge_v1`), the version the fingerprint carries."""

    name: str
    system: str
    user: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.system}\0{self.user}".encode()).hexdigest()[:16]


def load_prompt(name: str) -> PromptFile:
    """The prompt `prompts/<name>.txt`, split into its `### system` and `### user` parts."""
    text = (PROMPTS_DIR / f"{name}.txt").read_text(encoding="utf-8")
    match = re.fullmatch(r"### system\n(.*?)\n### user\n(.*)", text, re.S)
    if not match:
        raise ValueError(f"prompt file {name}.txt needs a '### system' and a '### user' part")
    return PromptFile(name=name, system=match.group(1).strip(), user=match.group(2).strip())


def read_custom_template(path: str | Path) -> str:
    """The user template of `--judge_prompt FILE`, checked: only the known named fields, braces balanced."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--judge_prompt {path}: no such file; give a text file with fields like {{candidate}}")
    text = path.read_text(encoding="utf-8")
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise UserError(f"--judge_prompt {path}: {exc}; write {{{{ and }}}} for literal braces") from None
    for name in names:
        if name not in TEMPLATE_FIELDS:
            raise UserError(
                f"--judge_prompt {path}: unknown field {{{name}}}; the fields are "
                f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)} (write {{{{ and }}}} for literal braces)"
            )
    if "candidate" not in names:
        raise UserError(
            f"--judge_prompt {path}: the template has no {{candidate}} field, so the judge would never see the reply"
        )
    return text


def new_boundary() -> str:
    """A random token that fences candidates in one call; the candidate cannot have seen it."""
    return secrets.token_hex(8)


def defuse(text: str) -> str:
    """`text` with the fence markers `<<<` and `>>>` made inert, so a candidate cannot open or close a fence."""
    return text.replace("<<<", "‹‹‹").replace(">>>", "›››")


def fenced(candidate_id: str, text: str, boundary: str) -> str:
    body = defuse(text).replace(boundary, "[token]")
    return f"<<<CANDIDATE {candidate_id} {boundary}>>>\n{body}\n<<<END {candidate_id} {boundary}>>>"


def rubric_text(sample: Sample, criteria: str | None) -> str:
    """The sample's rubric with the user's extra criteria appended, or a note to judge by the reference."""
    lines = [sample.rubric.strip()] if sample.rubric and sample.rubric.strip() else []
    lines += [f"- {line.strip().lstrip('- ')}" for line in (criteria or "").splitlines() if line.strip()]
    return "\n".join(lines) or NO_RUBRIC


def context_text(sample: Sample) -> str:
    """The dialogue so far, the oldest part cut first when it is very long."""
    context = sample.prompt or "\n".join(
        f"{m['role']}: {m['content']}" for m in sample.messages if m.get("role") != "system"
    )
    if len(context) > MAX_CONTEXT_CHARS:
        context = "…" + context[-MAX_CONTEXT_CHARS:]
    return context


def template_fields(sample: Sample, criteria: str | None, candidate_block: str) -> dict[str, str]:
    return {
        "task": sample.task_description or "(not stated)",
        "context": context_text(sample),
        "reference": sample.ground_truth,
        "rubric": rubric_text(sample, criteria),
        "criteria": (criteria or "").strip() or "(none)",
        "candidate": candidate_block,
    }
