"""A service's schema as typed records: its slots and intents, as SGD's `schema.json` declares them.

The SGD reader builds them (`traces/sgd.py`), each sample carries its active service's (`Sample.schema`), and
judges and metrics read them there instead of the schema text of the rendered system message.

    >>> schema = ServiceSchema.from_dict(row)            # a sample's `schema` field
    >>> schema.intent("ReserveRestaurant").required_slots
    ('restaurant_name', 'location', 'time')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tracegym.errors import UserError


@dataclass(frozen=True, slots=True)
class SlotSchema:
    name: str
    description: str
    is_categorical: bool
    possible_values: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "is_categorical": self.is_categorical,
            "possible_values": list(self.possible_values),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SlotSchema:
        return cls(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            is_categorical=bool(data.get("is_categorical", False)),
            possible_values=tuple(str(v) for v in data.get("possible_values") or ()),
        )


@dataclass(frozen=True, slots=True)
class IntentSchema:
    name: str
    description: str
    is_transactional: bool
    required_slots: tuple[str, ...]
    optional_slots: tuple[tuple[str, str], ...]  # (slot, default value), in schema order
    result_slots: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "is_transactional": self.is_transactional,
            "required_slots": list(self.required_slots),
            # a list of objects, not SGD's {slot: default}: the same keys in every record, so `datasets` loads it
            "optional_slots": [{"slot": slot, "default": default} for slot, default in self.optional_slots],
            "result_slots": list(self.result_slots),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntentSchema:
        return cls(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            is_transactional=bool(data.get("is_transactional", False)),
            required_slots=tuple(str(s) for s in data.get("required_slots") or ()),
            optional_slots=tuple((str(o["slot"]), str(o["default"])) for o in data.get("optional_slots") or ()),
            result_slots=tuple(str(s) for s in data.get("result_slots") or ()),
        )


@dataclass(frozen=True, slots=True)
class ServiceSchema:
    name: str
    description: str
    slots: tuple[SlotSchema, ...]
    intents: tuple[IntentSchema, ...]
    _intent_by_name: dict[str, IntentSchema] = field(init=False, repr=False, compare=False)
    _slot_by_name: dict[str, SlotSchema] = field(init=False, repr=False, compare=False)
    _as_dict: dict[str, Any] | None = field(init=False, default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_intent_by_name", {intent.name: intent for intent in self.intents})
        object.__setattr__(self, "_slot_by_name", {slot.name: slot for slot in reversed(self.slots)})

    def intent(self, name: str) -> IntentSchema | None:
        return self._intent_by_name.get(name)

    def slot(self, name: str) -> SlotSchema | None:
        """The first slot of that name."""
        return self._slot_by_name.get(name)

    def to_dict(self) -> dict[str, Any]:
        """The schema as a JSON-ready dict; built once and shared by every sample of the service (do not mutate)."""
        if self._as_dict is None:
            as_dict = {
                "name": self.name,
                "description": self.description,
                "slots": [slot.to_dict() for slot in self.slots],
                "intents": [intent.to_dict() for intent in self.intents],
            }
            object.__setattr__(self, "_as_dict", as_dict)
        return self._as_dict

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "schema") -> ServiceSchema:
        """The schema a sample record stores; a UserError naming `where` when a field is missing or malformed."""
        try:
            return cls(
                name=str(data["name"]),
                description=str(data.get("description", "")),
                slots=tuple(SlotSchema.from_dict(slot) for slot in data.get("slots") or ()),
                intents=tuple(IntentSchema.from_dict(intent) for intent in data.get("intents") or ()),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            missing = f" {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else ""
            raise UserError(
                f"{where}: missing or malformed field{missing}; a schema needs name, description, slots "
                "[{name, description, is_categorical, possible_values}] and intents [{name, description, "
                "is_transactional, required_slots, optional_slots [{slot, default}], result_slots}] "
                "(make one with `tracegym prepare`)"
            ) from None
