"""How the student is framed: one typed setting, recorded with the samples and with the run.

Act-conditioned NLG (the SGD NLG literature's setting) shows the student the reference turn's dialogue acts; a
student trained with placeholders writes `[n]` for the n-th act value and the tool fills it in before anyone
judges or reads the reply; constrained decoding lets such a reply write each `[n]` of its acts at most once and
no other. Each later option needs the one before it, so the setting is one value, not three independent flags.
The compact framing is for a small student: its prompt is the service, the intent and the numbered acts, and the
last user turn, with no schema, calls or older history (`prepare --include_acts --compact`), so it fits a short
prompt budget (the demo's 128 tokens hold 99.7% of its train prompts whole; a longer one loses the middle of its last
user turn, never its acts, unless the acts alone are longer); the full framing stays the one for real models.

    >>> Framing.named("acts")
    Framing(acts=True, placeholders=True, constrained=True, compact=False)
    >>> Framing.from_dict(Framing.named("acts").to_dict()) == Framing.named("acts")
    True
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from tracegym.errors import UserError

NAMED = {
    "end2end": {},  # history, schema, calls and results only: the student works out what to say
    "acts": {"acts": True, "placeholders": True, "constrained": True},  # act-conditioned, the full context
    # act-conditioned, only the service, the acts and the last user turn: the demo's student
    "compact": {"acts": True, "placeholders": True, "constrained": True, "compact": True},
}


@dataclass(frozen=True)
class Framing:
    """What the student is shown and how its replies are written and decoded."""

    acts: bool = False  # the reference dialogue acts are in the prompt (`prepare --include_acts`)
    placeholders: bool = False  # the student writes [n] for the n-th act value; the tool fills it in
    constrained: bool = False  # with placeholders: decoding writes each [n] of the acts at most once, and no other
    compact: bool = False  # with acts: the prompt is the service, the acts and the last user turn, nothing else

    def __post_init__(self) -> None:
        if self.compact and not self.acts:
            raise UserError(
                "the compact framing shows the student its dialogue acts and little else; "
                "prepare its samples with `tracegym prepare --include_acts --compact`"
            )
        if self.placeholders and not self.acts:
            raise UserError(
                "--placeholders needs samples that show the student its dialogue acts; "
                "prepare them with `tracegym prepare --include_acts`"
            )
        if self.constrained and not self.placeholders:
            object.__setattr__(self, "constrained", False)  # nothing to constrain without placeholders

    @classmethod
    def named(cls, name: str) -> Framing:
        """A framing by name: `compact` (the acts and the last user turn), `acts` (the acts in the full context),
        both with placeholders and constrained decoding, or `end2end` (no acts)."""
        if name not in NAMED:
            raise UserError(f"--framing {name!r}: choose one of {', '.join(NAMED)}")
        return cls(**NAMED[name])

    @property
    def name(self) -> str:
        """The name of this framing when it has one (`acts`, `end2end`), else its options (`acts=on, placeholders=off, …`)."""
        for name, options in NAMED.items():
            if self == Framing(**options):
                return name
        return ", ".join(f"{option}={'on' if on else 'off'}" for option, on in asdict(self).items())

    def with_placeholders(self, placeholders: bool, constrained: bool | None = None) -> Framing:
        """This framing with the student's placeholder options set (constraint: kept when not given)."""
        return replace(
            self, placeholders=placeholders, constrained=self.constrained if constrained is None else constrained
        )

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None, where: str = "framing") -> Framing:
        """The framing a record or run file stores; None or {} is the plain framing."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise UserError(f"{where}: expected an object such as {cls().to_dict()}, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"{where}: unknown key(s) {', '.join(unknown)}; a framing has {', '.join(sorted(known))}")
        wrong = [key for key, value in data.items() if not isinstance(value, bool)]
        if wrong:
            raise UserError(f"{where}: {', '.join(wrong)} must be true or false")
        return cls(**data)
