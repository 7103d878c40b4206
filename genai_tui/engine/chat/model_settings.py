"""Each model's own settings (the config file's `[models."NAME"]`): how a local model
loads (context, GPU layers, threads, KV cache type, flash attention, chat template) and
the sampling preset its replies start from. What Engine.model_settings holds.

Kept in the config file rather than the database: they are load settings like
`[generation]`'s (which they override), a person can read, edit and copy them with the
rest of the configuration, and a model's name is stable across machines. A change of a
load setting reloads the model through residency, which makes room with the new
estimate first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from genai_tui.config_models import LOAD_KEYS, ModelSettings
from genai_tui.engine.chat.llama_options import check_chat_template
from genai_tui.engine.chat.local import LocalChatModel
from genai_tui.engine.chat.sampling import ParamsError
from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.events import ModelLoaded
from genai_tui.engine.gpu.placement import DEVICE_HELP
from genai_tui.engine.models.inventory import LocalModel

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.core.store import Store

# What a model that sets nothing gets for the keys [generation] does not have.
BUILT_IN = {"kv_cache": "f16", "flash_attn": False, "chat_template": None, "device": "auto",
            "preset": None}
KEYS = (*LOAD_KEYS, "preset")


class Reloads(Protocol):
    """What `apply` needs of the Engine (the facade is not imported here)."""

    model: LocalChatModel | None

    @property
    def generating(self) -> bool: ...

    def resolve_model(self, ref: str) -> LocalModel: ...

    async def load_model(self, model: LocalModel | str) -> ModelLoaded: ...

    async def unload_model(self) -> None: ...


@dataclass(frozen=True)
class Applied:
    """What saving a model's settings did."""

    path: Path  # the config file written
    reloaded: ModelLoaded | None = None  # the model, loaded again with the new settings
    before_bytes: int | None = None  # its memory estimate before, and now
    after_bytes: int | None = None


def is_remote(key: str, settings: Settings) -> bool:
    """A PROVIDER/MODEL name of a configured provider (its server loads the model)."""
    provider = key.split("/", 1)[0]
    return "/" in key and provider in {p.name for p in settings.providers}


class PerModelSettings:
    """Per-model settings: read, checked by the config file's rules, saved to it, and
    applied to the loaded model."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    # -- reading ------------------------------------------------------------------

    @staticmethod
    def key(model: LocalModel | str, provider: str = "") -> str:
        """A model's identity: a local model's name, else PROVIDER/MODEL."""
        name = model.name if isinstance(model, LocalModel) else model
        return f"{provider}/{name}" if provider else name

    def own(self, key: str) -> dict[str, Any]:
        """What the model sets itself (the rest comes from [generation])."""
        found = self.settings.models.get(key)
        return found.own() if found is not None else {}

    def defaults(self) -> dict[str, Any]:
        gen = self.settings.generation
        return {k: getattr(gen, k) for k in LOAD_KEYS if hasattr(gen, k)} | BUILT_IN

    def values(self, key: str) -> dict[str, Any]:
        """Every setting the model loads (and samples) with."""
        return self.defaults() | self.own(key)

    def preset(self, key: str) -> str | None:
        """The sampling preset the model's replies start from (None: [generation]'s)."""
        return self.own(key).get("preset")

    def keys(self) -> list[str]:
        """The models that have settings of their own, in the file's order."""
        return list(self.settings.models)

    # -- checking and saving ----------------------------------------------------------

    def check(self, key: str, values: dict[str, Any]) -> ModelSettings:
        """`values` (form text or typed values; None or "" takes the default) checked
        with the config file's rules and words. Raises ParamsError naming the keys."""
        from genai_tui.config import check_table
        from genai_tui.config_write import config_path

        given = {k: v.strip() if isinstance(v, str) else v for k, v in values.items()}
        given = {k: v for k, v in given.items() if v not in (None, "")}
        path = config_path(self.settings)
        checked: ModelSettings = check_table("models", {key: given}, path)[key]
        where = f"'models.{key}.%s' in {path}"
        if is_remote(key, self.settings):
            loads = [k for k in LOAD_KEYS if k in given]
            if loads:
                raise ParamsError(
                    f"Invalid settings: {where % loads[0]}: {key} runs on its provider's "
                    "server, which loads it; only preset applies to a remote model.",
                    "Leave the load settings empty.",
                    tuple(loads),
                )
        if checked.chat_template and (why := check_chat_template(checked.chat_template)):
            raise ParamsError(f"Invalid settings: {where % 'chat_template'}: {why}.",
                              "Leave it empty to use the GGUF's own template.",
                              ("chat_template",))  # fmt: skip
        if checked.device and (why := self._no_such_gpu(checked.device)):
            raise ParamsError(f"Invalid settings: {where % 'device'}: {why}.",
                              f"Use {DEVICE_HELP}.", ("device",))  # fmt: skip
        if checked.preset and self.store.sampling_preset(checked.preset) is None:
            names = ", ".join(p.name for p in self.store.sampling_presets())
            raise ParamsError(f"Invalid settings: {where % 'preset'}: there is no preset "
                              f"named {checked.preset!r}.", f"Pick one of: {names}.",
                              ("preset",))  # fmt: skip
        return checked

    @staticmethod
    def _no_such_gpu(device: str) -> str:
        """Why `device` names a GPU this box lacks ("" when fine, or auto/split)."""
        from genai_tui.engine.gpu.placement import no_such_gpu, probe_gpus

        if device == "auto" or device == "split":
            return ""
        return no_such_gpu(device, probe_gpus())

    def save(self, key: str, values: dict[str, Any]) -> Path:
        """Make `values` the model's own settings (replacing what it had), in the file
        and in these settings. Nothing changes when a value is refused."""
        from genai_tui.config_write import set_table

        checked = self.check(key, values)
        table = dict.fromkeys(KEYS) | checked.own()  # None removes a key
        path = set_table(self.settings, ("models", key), table)
        models = dict(self.settings.models)
        if checked.own():
            models[key] = checked
        else:
            models.pop(key, None)
        self.settings.models = models
        return path

    def clear(self, key: str) -> Path:
        """Back to [generation]'s values."""
        return self.save(key, {})

    # -- loading ------------------------------------------------------------------

    def chat_model(self, model: LocalModel) -> LocalChatModel:
        """The model, set up to load with its settings (Engine._local_chat_model)."""
        v = self.values(self.key(model))
        return LocalChatModel(model.path, model.name, context_length=v["context_length"],
                              gpu_layers=v["gpu_layers"], threads=v["threads"],
                              kv_cache=v["kv_cache"], flash_attn=v["flash_attn"],
                              chat_template=v["chat_template"], device=v["device"],
                              projector=model.projector)  # fmt: skip

    async def estimate(self, model: LocalModel, values: dict[str, Any] | None = None) -> int:
        """The memory the model needs with `values` (checked; None: its settings now)."""
        if values is None:
            return (await self.chat_model(model).footprint())[0]
        checked = self.check(self.key(model), values).own()
        v = self.defaults() | checked
        probe = LocalChatModel(model.path, model.name, context_length=v["context_length"],
                               gpu_layers=v["gpu_layers"], kv_cache=v["kv_cache"])  # fmt: skip
        return (await probe.footprint())[0]

    async def apply(self, engine: Reloads, key: str, values: dict[str, Any]) -> Applied:
        """Save `values`; when `key` is the loaded model and a load setting changed, load
        it again with them (through residency). If that load fails, the old settings
        are put back (file too) and the model loaded with them again; then it raises."""
        old = self.own(key)
        current = engine.model
        loaded_here = current is not None and current.loaded and current.name == key
        if loaded_here and engine.generating:
            self.check(key, values)
            raise GenaiError(f"{key} is generating a reply.",
                             "Save again when it has finished (or stop it with Esc).")  # fmt: skip
        path = self.save(key, values)
        new = self.own(key)
        changed = [k for k in LOAD_KEYS if old.get(k) != new.get(k)]
        if not (loaded_here and changed):
            return Applied(path)
        assert current is not None
        before = (await current.footprint())[0]
        model = engine.resolve_model(key)
        await engine.unload_model()
        try:
            loaded = await engine.load_model(model)
        except GenaiError:
            self.save(key, old)
            await engine.load_model(model)
            raise
        after = (await self.chat_model(model).footprint())[0]
        return Applied(path, loaded, before, after)
