"""How a local model is loaded beyond its file: the KV cache's type, flash attention and
the chat template, as llama-cpp-python's `Llama(...)` takes them, and what they cost.

llama_cpp is imported only by the functions that need a loaded library.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from genai_tui.engine.core.errors import ModelError
from genai_tui.engine.models.gguf_info import GGUFInfo

# Memory a loaded model needs beyond weights and KV cache (compute buffers, runtime).
OVERHEAD_BYTES = 256 * 1024**2

# ggml's type ids (llama_cpp.GGML_TYPE_*) for `Llama(type_k=, type_v=)`, and the bytes
# each takes per element: q8_0 keeps 32 values in 34 bytes, q4_0 in 18.
KV_TYPE_IDS = {"f16": 1, "q8_0": 8, "q4_0": 2}
KV_BYTES_PER_VALUE = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}

_KV_SIZE = re.compile(r"llama_kv_cache: size =\s*([\d.]+) MiB")
_TEMPLATE_FILE = re.compile(r"[/\\]|\.(jinja2?|j2|txt)$", re.I)


def memory_needed(info: GGUFInfo, n_ctx: int, kv_cache: str = "f16") -> int:
    """Bytes of memory the model needs at context `n_ctx` with a `kv_cache` cache:
    weights + KV cache + overhead."""
    f16 = (info.kv_bytes_per_token() or 0) * n_ctx
    kv = int(f16 * KV_BYTES_PER_VALUE[kv_cache] / KV_BYTES_PER_VALUE["f16"])
    return info.tensor_bytes + kv + OVERHEAD_BYTES


def is_template_file(chat_template: str) -> bool:
    """A chat template setting that names a Jinja file (else a built-in format's name)."""
    return bool(_TEMPLATE_FILE.search(chat_template))


def check_chat_template(chat_template: str) -> str:
    """Why `chat_template` cannot be used ("" when it can): a file must be readable, a
    name must be one of llama-cpp-python's chat formats."""
    if is_template_file(chat_template):
        path = Path(chat_template).expanduser()
        if not path.is_file():
            return f"there is no file {chat_template}"
        return ""
    from llama_cpp import llama_chat_format

    try:
        llama_chat_format.get_chat_completion_handler(chat_template)
    except llama_chat_format.LlamaChatCompletionHandlerNotFoundException:
        return (f"'{chat_template}' is not a chat format of llama-cpp-python (e.g. chatml, "
                "llama-3, mistral-instruct, gemma; or give a Jinja file's path)")  # fmt: skip
    return ""


def llama_kwargs(kv_cache: str, flash_attn: bool, chat_template: str | None) -> dict[str, Any]:
    """The `Llama(...)` arguments for these settings (none when all are the defaults)."""
    kwargs: dict[str, Any] = {}
    if flash_attn:
        kwargs["flash_attn"] = True
    if kv_cache != "f16":
        kwargs["type_k"] = kwargs["type_v"] = KV_TYPE_IDS[kv_cache]
    if chat_template and not is_template_file(chat_template):
        kwargs["chat_format"] = chat_template
    return kwargs


def template_formatter(llm: Any, chat_template: str | None) -> Any:
    """A Jinja formatter for the model's chat template: the file named by `chat_template`,
    else the GGUF's own; None for a built-in format (or a GGUF without a template)."""
    if chat_template and not is_template_file(chat_template):
        return None
    if chat_template:
        path = Path(chat_template).expanduser()
        try:
            template = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelError(
                f"Cannot read the chat template file {path}: {exc}.",
                "Fix the path in the model's settings (F7, Models).",
            ) from exc
    else:
        template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp import llama_chat_format

    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    eos = llm._model.token_get_text(eos_id) if eos_id != -1 else ""
    bos = llm._model.token_get_text(bos_id) if bos_id != -1 else ""
    return llama_chat_format.Jinja2ChatFormatter(
        template=template, eos_token=eos, bos_token=bos, stop_token_ids=[eos_id]
    )


def kv_cache_bytes(log: str) -> int | None:
    """The KV cache's size as llama.cpp reported it in its log while loading (None if
    it did not)."""
    match = _KV_SIZE.search(log)
    return int(float(match.group(1)) * 1024**2) if match else None
