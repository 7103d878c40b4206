"""A local vision GGUF with its projector (mmproj): the llama-cpp-python multimodal chat
handler that takes it as `clip_model_path`, chosen by the model's name and architecture.

llama-cpp-python's handlers: Llava15ChatHandler (LLaVA 1.5, and the fallback),
Llava16ChatHandler, MoondreamChatHandler, NanoLlavaChatHandler, ObsidianChatHandler,
Llama3VisionAlphaChatHandler, MiniCPMv26ChatHandler, Qwen25VLChatHandler, each with its
own prompt format; MTMDChatHandler (newer versions) formats with the GGUF's own chat
template, so it serves the models none of the named ones is for (Gemma 3, Qwen2-VL,
SmolVLM, ...). llama_cpp is imported only when a handler is made.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from genai_tui.engine.core.errors import ModelError
from genai_tui.engine.core.text import printable

# (words in the model's name, path or architecture -> handler class), first match wins.
HANDLERS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("moondream",), "MoondreamChatHandler"),
    (("nanollava", "nano-llava"), "NanoLlavaChatHandler"),
    (("obsidian",), "ObsidianChatHandler"),
    (("llama-3-vision-alpha", "llama3-vision-alpha"), "Llama3VisionAlphaChatHandler"),
    (("minicpm",), "MiniCPMv26ChatHandler"),
    (("qwen2.5-vl", "qwen2_5_vl", "qwen25vl", "qwen2.5vl"), "Qwen25VLChatHandler"),
    (("gemma4", "gemma-4"), "Gemma4ChatHandler"),
    (("llava-v1.6", "llava-1.6", "llava-v1_6", "llava1.6", "llava-next"), "Llava16ChatHandler"),
    (("llava",), "Llava15ChatHandler"),
)
FALLBACK = "Llava15ChatHandler"
GENERIC = "MTMDChatHandler"  # the GGUF's own template; llama-cpp-python >= 0.3.3x


def handler_name(names: list[str], has_template: bool, available: set[str]) -> str:
    """The handler class for a model known by `names` (file path, general.name,
    architecture): a named one that matches; else the generic one when the library has it
    and the GGUF has a chat template; else LLaVA 1.5's."""
    hay = " ".join(n.lower() for n in names if n)
    for words, name in HANDLERS:
        if name in available and any(w in hay for w in words):
            return name
    if has_template and GENERIC in available:
        return GENERIC
    return FALLBACK


def vision_handler(model: Path, projector: Path, metadata: dict[str, Any] | None = None) -> Any:
    """The llama-cpp-python chat handler for `model` with its `projector`: pass it as
    `Llama(chat_handler=...)`. ModelError when the projector is missing."""
    from llama_cpp import llama_chat_format

    if not projector.is_file():
        raise ModelError(
            f"The vision projector {printable(str(projector))} of {printable(model.name)} is "
            "missing.",
            "Download it again (genai-tui pull REPO --quant QUANT brings it), or rescan.",
        )
    metadata = metadata or {}
    names = [str(model), str(metadata.get("general.name") or ""),
             str(metadata.get("general.architecture") or "")]  # fmt: skip
    available = {n for _, n in HANDLERS} | {GENERIC, FALLBACK}
    available = {n for n in available if hasattr(llama_chat_format, n)}
    name = handler_name(names, bool(metadata.get("tokenizer.chat_template")), available)
    cls = getattr(llama_chat_format, name)
    # verbose=False: the handler's own prints stay off the terminal (llama.cpp's log goes
    # through the log callback local.py installs).
    return cls(clip_model_path=str(projector), verbose=False)


def attach_vision(llm: Any, model: Path, projector: Path, metadata: dict[str, Any] | None = None
                  ) -> Any:  # fmt: skip
    """Give the loaded `llm` its multimodal handler, the projector loaded now (on the
    model's thread, like the model): a projector llama.cpp cannot load fails the load
    with a ModelError (`llm` closed), not the first reply. Returns the handler."""
    handler = vision_handler(model, projector, metadata)
    # Quiet (verbose False, as `llm` is after its load): no prompt echoed on stderr per
    # reply, no timings; the handler points fds 1 and 2 at /dev/null while the projector
    # loads and while it decodes an image (a TUI caller must load it before drawing).
    verbose, llm.verbose = llm.verbose, False
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            handler._init_mtmd_context(llm)
    except (ValueError, RuntimeError, OSError) as exc:
        llm.close()
        raise ModelError(
            f"llama.cpp could not load the vision projector {printable(projector.name)} of "
            f"{printable(model.name)}: {printable(str(exc))}.",
            "Check that the projector belongs to this model (the same repo), or download it "
            "again; without it the model takes text only (move the mmproj file away).",
        ) from exc
    finally:
        llm.verbose = verbose
    handler.verbose = False
    llm.chat_handler = handler
    return handler


def projector_bytes(projector: Path | None) -> int:
    """What the projector adds to the model's memory (its file's size; 0 without one)."""
    try:
        return projector.stat().st_size if projector is not None else 0
    except OSError:
        return 0
