"""Per-model settings: the config file's `[models."NAME"]` tables.

NAME is the model's identity: a local GGUF model's name as the model list shows it
(`genai-tui models`; the file name without `.gguf`, a split model by its first part),
or `PROVIDER/MODEL` for a remote one. A key left out takes `[generation]`'s value;
only sampling (`preset`) applies to a remote model, whose server does the loading.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KV_CACHE_TYPES = ("f16", "q8_0", "q4_0")
KvCacheType = Literal["f16", "q8_0", "q4_0"]
# What each load key is called in the form and in messages.
LOAD_KEYS = ("context_length", "gpu_layers", "threads", "kv_cache", "flash_attn", "chat_template",
             "device")


class ModelSettings(BaseModel):
    """How one model is loaded, and the sampling preset its chats start from."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    context_length: int | None = Field(None, ge=0)
    """Context window in tokens; 0 uses the model's own."""
    gpu_layers: int | None = Field(None, ge=-1)
    """Layers offloaded to the GPU; -1 offloads all."""
    threads: int | None = Field(None, ge=0)
    """CPU threads for llama.cpp; 0 picks one less than the usable cores."""
    kv_cache: KvCacheType | None = None
    """The KV cache's type: f16 (llama.cpp's default), q8_0 (about half the memory) or
    q4_0 (about a quarter). A quantized cache needs flash attention (llama.cpp)."""
    flash_attn: bool | None = None
    """Flash attention (llama.cpp's off by default here)."""
    chat_template: str | None = Field(None, min_length=1)
    """The chat template: a built-in llama-cpp-python chat format (chatml, llama-3,
    mistral-instruct, gemma, ...), or the path of a Jinja file. Default: the GGUF's own."""
    device: str | None = None
    """Which GPU: "auto" (one GPU: it; several: the one with the most free memory that
    fits), an index ("1"), or "split" (layers across all GPUs; "split:3,1" sets the
    shares). Ignored on the CPU. An image model runs on one GPU: auto or an index."""
    config: str | None = Field(None, min_length=1)
    """An image model's single-file checkpoint: the local diffusers folder of the same
    model its pipeline config is read from (offline; see families.py)."""
    preset: str | None = Field(None, min_length=1)
    """A sampling preset (built in, or saved in the chat's settings) new replies start from."""

    @field_validator("device", mode="before")
    @classmethod
    def _device(cls, value: object) -> object:
        if value is None:
            return None
        from genai_tui.engine.gpu.placement import parse_device

        return parse_device(str(value))

    @model_validator(mode="after")
    def _quantized_cache_needs_flash_attention(self) -> ModelSettings:
        if self.kv_cache not in (None, "f16") and not self.flash_attn:
            raise ValueError(
                f"a {self.kv_cache} KV cache needs flash_attn = true (llama.cpp quantizes "
                "the V cache only with flash attention)"
            )
        return self

    def own(self) -> dict[str, object]:
        """The keys this model sets (the rest take `[generation]`'s)."""
        return self.model_dump(exclude_none=True)
