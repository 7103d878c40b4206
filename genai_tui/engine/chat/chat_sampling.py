"""Each chat's own generation settings, and the named presets: what Engine.sampling holds.

A conversation's `params` keep only the sampling values that differ from the config
file's `[generation]`; a reply uses those defaults with the chat's values on top. A
preset is a full set of values (a snapshot of a chat's, or a built-in one); applying it
replaces the chat's values. A model may name a preset of its own ([models."NAME"]
preset): its chats start from it instead of `[generation]`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from genai_tui.engine.chat.sampling import (
    SAMPLING_KEYS,
    ParamsError,
    SamplingParams,
    defaults_from,
    differences,
    summary,
    validate_params,
)
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.store import Conversation, SamplingPreset, Store

if TYPE_CHECKING:
    from genai_tui.config import GenerationSettings

PRESET_NAME_MAX = 40


class ChatSampling:
    """Per-chat sampling values and presets, kept in the store."""

    def __init__(self, store: Store, generation: GenerationSettings,
                 model_preset: Callable[[str], str | None] | None = None) -> None:  # fmt: skip
        self.store = store
        self.generation = generation
        self.model_preset = model_preset  # a model's key -> the preset its chats start from

    # -- one chat -------------------------------------------------------------

    def defaults(self) -> dict[str, Any]:
        """What a chat that sets nothing gets: the config file's values (and built-in ones)."""
        return defaults_from(self.generation)

    def values(self, conv_id: int) -> dict[str, Any]:
        """Every sampling value the chat's next reply uses."""
        return self._effective(self.store.conversation(conv_id))

    def _base(self, conv: Conversation) -> dict[str, Any]:
        """What the chat starts from: the defaults, with its model's preset on top."""
        key = f"{conv.provider}/{conv.model}" if conv.provider else conv.model
        name = self.model_preset(key) if self.model_preset and key else None
        preset = self.store.sampling_preset(name) if name else None
        return self.defaults() | (preset.params if preset is not None else {})

    def _effective(self, conv: Conversation) -> dict[str, Any]:
        own = {k: v for k, v in conv.params.items() if k in SAMPLING_KEYS}
        return self._base(conv) | own

    def params_for(self, conv: Conversation) -> SamplingParams:
        """What a reply in `conv` is generated with."""
        values = self.generation.model_dump() | self._effective(conv)
        own = frozenset(k for k in conv.params if k in SAMPLING_KEYS)
        return SamplingParams.from_mapping(values | {"chat_keys": own})

    def changes(self, conv_id: int) -> dict[str, Any]:
        """The chat's values that differ from the defaults, in the form's order."""
        return differences(self.values(conv_id), self.defaults())

    def describe(self, conv_id: int) -> str:
        """The status line's summary of `changes`: "temp 0.2 · stop 1 · json" (or "")."""
        return summary(self.changes(conv_id))

    def describe_values(self, values: dict[str, Any]) -> str:
        """The same summary for a preset's (or a form's) values."""
        defaults = self.defaults()
        return summary(differences(defaults | values, defaults))

    def set(self, conv_id: int, values: dict[str, Any]) -> Conversation:
        """Make `values` the chat's own (keys left out, or given as None, take the
        default). Raises ParamsError, naming the bad keys, with the config file's rules;
        then nothing changes."""
        given = {k: v for k, v in values.items() if v is not None}
        checked = validate_params(given)
        conv = self.store.conversation(conv_id)
        own = differences(checked, self._base(conv))
        others = {k: v for k, v in conv.params.items() if k not in SAMPLING_KEYS}
        return self.store.update_conversation(conv_id, params=others | own)

    def update(self, conv_id: int, values: dict[str, Any]) -> Conversation:
        """Change only the keys in `values` (None: back to the default)."""
        current = {k: v for k, v in self.store.conversation(conv_id).params.items()
                   if k in SAMPLING_KEYS}  # fmt: skip
        return self.set(conv_id, current | values)

    def clear(self, conv_id: int) -> Conversation:
        """Back to the defaults."""
        return self.set(conv_id, {})

    # -- presets --------------------------------------------------------------

    def presets(self) -> list[SamplingPreset]:
        """Built-in presets first, then the user's, each by name."""
        return self.store.sampling_presets()

    def preset(self, name: str) -> SamplingPreset:
        found = self.store.sampling_preset(name.strip())
        if found is None:
            names = ", ".join(p.name for p in self.presets())
            raise GenaiError(f"There is no preset named {name.strip()!r}.",
                             f"Pick one of: {names}.")  # fmt: skip
        return found

    def apply_preset(self, conv_id: int, name: str) -> Conversation:
        """The chat's values become the preset's (the defaults for what it leaves out)."""
        preset = self.preset(name)
        return self.set(conv_id, preset.params)

    def save_preset(self, name: str, values: dict[str, Any]) -> SamplingPreset:
        """Save `values` (a chat's values, checked as `set` checks them; None: the default)
        as the user's preset `name`, replacing one of that name."""
        name = self._check_name(name)
        given = {k: v for k, v in values.items() if v is not None}
        checked = self.defaults() | validate_params(given)
        return self.store.save_sampling_preset(name, checked)

    def save_chat_as_preset(self, conv_id: int, name: str) -> SamplingPreset:
        return self.save_preset(name, self.values(conv_id))

    def delete_preset(self, name: str) -> None:
        preset = self.preset(name)
        if preset.builtin:
            raise GenaiError(f"{preset.name!r} is a built-in preset and cannot be deleted.",
                             "Delete one you saved yourself.")  # fmt: skip
        self.store.delete_sampling_preset(preset.name)

    def _check_name(self, name: str) -> str:
        name = name.strip()
        if not name:
            raise ParamsError("A preset needs a name.", "Type one, e.g. 'code review'.",
                              ("preset",))  # fmt: skip
        if len(name) > PRESET_NAME_MAX or not name.isprintable():
            raise ParamsError(
                f"A preset name is at most {PRESET_NAME_MAX} printable characters.",
                "Use a shorter name without control characters.",
                ("preset",),
            )
        existing = self.store.sampling_preset(name)
        if existing is not None and existing.builtin:
            raise ParamsError(f"{name!r} is a built-in preset.",
                              "Save yours under another name.", ("preset",))  # fmt: skip
        return name
