"""Local GGUF chat through llama-cpp-python, on the model's own worker thread.

llama_cpp is imported when a model is first loaded. One `Llama` is not safe
for concurrent calls, so every call on it runs on this model's single thread;
results cross into asyncio with `loop.call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import threading
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from pathlib import Path
from typing import Any

from genai_tui.engine.chat.llama_log import LLAMA_LOG
from genai_tui.engine.chat.llama_options import (
    OVERHEAD_BYTES,
    kv_cache_bytes,
    llama_kwargs,
    memory_needed,
    template_formatter,
)
from genai_tui.engine.chat.sampling import SamplingParams
from genai_tui.engine.chat.vision_local import attach_vision, projector_bytes
from genai_tui.engine.core.bridge import ThreadStream
from genai_tui.engine.core.errors import (
    GenerationError,
    ModelError,
    ModelTooLargeError,
    UnsupportedArchitectureError,
)
from genai_tui.engine.core.events import ChatStats, ModelLoaded, TokenDelta
from genai_tui.engine.gpu.placement import llama_args, requested
from genai_tui.engine.gpu.threads import batch_threads, generation_threads
from genai_tui.engine.models.gguf_info import GGUFInfo, read_gguf

__all__ = ["OVERHEAD_BYTES", "LocalChatModel", "SamplingParams", "memory_needed"]

INLINE_COUNT_CHARS = 16_000  # a prompt this short is counted on the calling thread


def gpu_offload_supported() -> bool:
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def chat_device(gpu_layers: int, device: str = "auto") -> str:
    """Where llama.cpp puts a chat model: the GPU(s) `device` asks for when its build
    offloads ("cuda:auto" until residency places it), else the CPU."""
    return requested(device) if gpu_layers != 0 and gpu_offload_supported() else "cpu"


class LocalChatModel:
    """A GGUF model loaded by llama.cpp, driven from its own thread."""

    def __init__(
        self,
        path: Path,
        name: str | None = None,
        *,
        context_length: int = 4096,
        gpu_layers: int = -1,
        threads: int = 0,
        kv_cache: str = "f16",
        flash_attn: bool = False,
        chat_template: str | None = None,
        device: str = "auto",
        projector: Path | None = None,
    ) -> None:
        self.path = Path(path).expanduser()
        self.name = name or self.path.stem
        self.residency_key: str | None = self.name  # who holds the GPU while it generates
        self.requested_context = context_length
        self.gpu_layers = gpu_layers
        self.threads = generation_threads(threads)
        self.batch_threads = batch_threads(threads)
        self.kv_cache = kv_cache  # f16, q8_0, q4_0 (a quantized one needs flash_attn)
        self.flash_attn = flash_attn
        self.chat_template = chat_template  # None: the GGUF's; a format name or Jinja file
        self.device = device or "auto"  # the setting: auto, a GPU index, split[:3,1]
        self.projector = projector  # a vision model's mmproj: it takes images (vision_local)
        self.placed: str | None = None  # where residency put it ("cuda:1", "cuda:0+1=3,1")
        self.kv_cache_bytes: int | None = None  # as llama.cpp reported it when loading
        self.info: GGUFInfo | None = None
        self.context_size = 0
        self.on_gpu = False
        self._llm: Any = None
        self._formatter: Any = None
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="genai-llm")
        self._busy = threading.Lock()  # held while llama.cpp works (it is not thread-safe)

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._locked, fn, *args)

    def _locked(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._busy:
            return fn(*args)

    # -- loading ------------------------------------------------------------

    async def footprint(self) -> tuple[int, str]:
        """(bytes it will hold, device) before loading: checks the file is a whole GGUF."""

        def measure() -> tuple[int, str]:
            info = read_gguf(self.path)
            n_ctx = self.requested_context or info.context_length or 4096
            device = chat_device(self.gpu_layers, self.device)
            need = memory_needed(info, n_ctx, self.kv_cache) + projector_bytes(self.projector)
            return need, device

        return await asyncio.to_thread(measure)

    def measured_bytes(self) -> int | None:
        # llama.cpp mmaps the weights: resident memory undercounts, keep the estimate.
        return None

    offload = None  # llama.cpp cannot move a loaded model to the CPU

    def place(self, device: str) -> None:
        """Residency chose the GPU(s): llama.cpp loads there (main_gpu, tensor_split)."""
        self.placed = device

    async def load(self) -> ModelLoaded:
        return await self._run(self.load_sync)

    def load_sync(self) -> ModelLoaded:
        started = time.perf_counter()
        info = read_gguf(self.path)
        n_ctx = self.requested_context or info.context_length or 4096
        import llama_cpp

        LLAMA_LOG.install(llama_cpp)
        on_gpu = bool(llama_cpp.llama_supports_gpu_offload()) and self.gpu_layers != 0
        if not on_gpu:
            self._check_memory(info, n_ctx)
        LLAMA_LOG.lines.clear()
        LLAMA_LOG.kv_size = ""
        try:
            # verbose=True: with verbose=False llama-cpp-python points fds 1 and 2 at
            # /dev/null while it loads, which would blank the TUI. Its Python-level
            # chatter goes to a buffer here; llama.cpp's own log to LLAMA_LOG.
            with contextlib.redirect_stderr(io.StringIO()):
                llm = llama_cpp.Llama(
                    model_path=str(self.path),
                    n_ctx=n_ctx,
                    n_gpu_layers=self.gpu_layers,
                    n_threads=self.threads,
                    n_threads_batch=self.batch_threads,
                    verbose=True,
                    **llama_kwargs(self.kv_cache, self.flash_attn, self.chat_template),
                    **(llama_args(self.placed or requested(self.device)) if on_gpu else {}),
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise self._explain_load_failure(info, n_ctx, on_gpu) from exc
        llm.verbose = False  # from here on, no prints to stderr during generation
        try:
            self._formatter = template_formatter(llm, self.chat_template)
        except ModelError:
            llm.close()
            raise
        if self.chat_template and self._formatter is not None:  # a Jinja file's template
            llm.chat_handler = self._formatter.to_chat_handler()
        if self.projector is not None:  # a vision model: the multimodal handler (it
            attach_vision(llm, self.path, self.projector, info.metadata)  # closes llm if it fails)
        self._llm = llm
        self.kv_cache_bytes = kv_cache_bytes(LLAMA_LOG.kv_size)
        self.info = info
        self.context_size = int(llm.n_ctx())
        self.on_gpu = on_gpu
        return ModelLoaded(
            name=self.name,
            path=self.path,
            context_size=self.context_size,
            gpu_layers=self.gpu_layers if on_gpu else 0,
            on_gpu=on_gpu,
            load_s=time.perf_counter() - started,
        )

    def _check_memory(self, info: GGUFInfo, n_ctx: int) -> None:
        import psutil

        need = memory_needed(info, n_ctx, self.kv_cache)
        available = psutil.virtual_memory().available
        if need > available:
            raise ModelTooLargeError(
                f"{self.path.name} needs about {need / 2**30:.1f} GiB of memory at a "
                f"{n_ctx:,}-token context; {available / 2**30:.1f} GiB is free.",
                "Use a smaller quantization (e.g. Q4_K_M) or a smaller context_length, "
                "or close other programs.",
            )

    def _explain_load_failure(self, info: GGUFInfo, n_ctx: int, on_gpu: bool) -> ModelError:
        log = LLAMA_LOG.text()
        import llama_cpp

        version = getattr(llama_cpp, "__version__", "?")
        if "unknown model architecture" in log or "unknown architecture" in log:
            return UnsupportedArchitectureError(
                f"{self.path.name} uses the architecture '{info.architecture}', which this "
                f"llama.cpp (llama-cpp-python {version}) does not support.",
                "Upgrade llama-cpp-python (`pip install -U llama-cpp-python`), or pick a "
                "model of a supported architecture (llama, qwen2, gemma, mistral, phi3, ...).",
            )
        if "requires flash_attn" in log:
            return ModelError(
                f"llama.cpp cannot load {self.path.name} with a {self.kv_cache} KV cache "
                "without flash attention.",
                "Turn flash attention on for this model, or use an f16 KV cache (F7, Models).",
            )
        if any(s in log for s in ("out of memory", "failed to allocate", "cudaMalloc failed")):
            where = "GPU memory" if on_gpu else "memory"
            return ModelTooLargeError(
                f"Not enough {where} to load {self.path.name} with a {n_ctx:,}-token context.",
                "Lower gpu_layers to keep part of it on the CPU, use a smaller context_length "
                "or a smaller quantization.",
            )
        last = next((ln.strip() for ln in reversed(LLAMA_LOG.lines) if ln.strip()), "")
        detail = f" llama.cpp said: {last}" if last else ""
        return ModelError(
            f"llama.cpp could not load {self.path.name} (architecture "
            f"'{info.architecture}').{detail}",
            f"If the file is fine, upgrade llama-cpp-python (now {version}); "
            "otherwise download it again.",
        )

    # -- tokens ---------------------------------------------------------------

    def _count_sync(self, messages: list[dict[str, str]]) -> tuple[int, str]:
        """Tokens the formatted prompt takes, and the prompt's text (when known)."""
        llm = self._llm
        if self._formatter is not None:
            try:
                prompt = self._formatter(messages=messages).prompt
                tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
                return len(tokens), prompt
            except Exception:  # a template that rejects these roles: estimate instead
                pass
        total = sum(
            len(llm.tokenize(m["content"].encode(), add_bos=False, special=False)) + 4
            for m in messages
        )
        return total, ""

    def _count_text(self, text: str) -> int:
        if not text or self._llm is None:
            return 0
        return len(self._llm.tokenize(text.encode(), add_bos=False, special=True))

    async def count_prompt(self, messages: list[dict[str, str]]) -> tuple[int, str]:
        # A short prompt is counted at once while the model's thread is idle (about a
        # millisecond): a trip through that thread would wait for the event loop, busy
        # drawing the user's message, and the model would start on the prompt later.
        if sum(len(str(m.get("content", ""))) for m in messages) <= INLINE_COUNT_CHARS:
            if self._busy.acquire(blocking=False):
                try:
                    return self._count_sync(messages)
                finally:
                    self._busy.release()
        return await self._run(self._count_sync, messages)

    async def count_text(self, text: str) -> int:
        """`text`'s tokens, counted on the model's own thread (its tokenizer is not
        thread-safe)."""
        return int(await self._run(self._count_text, text))

    # -- generation -----------------------------------------------------------

    async def stream(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        cancel: threading.Event,
        prompt_tokens: int = 0,
    ) -> AsyncGenerator[TokenDelta | ChatStats, None]:
        """Yield the reply as TokenDeltas, then its ChatStats.

        Setting `cancel` stops generation at the next token; what was produced is
        kept and the stats say finish_reason="cancelled".
        """
        work = ThreadStream[str, ChatStats](
            self._executor,
            lambda emit: self._locked(self._generate, messages, params, cancel, emit,
                                      prompt_tokens),  # fmt: skip
            cancel,
        )
        delivered: list[str] = []
        async with aclosing(work.items()) as items:
            async for text in items:
                if cancel.is_set():
                    # Stopped: drop what the worker queued meanwhile (it runs ahead of a
                    # slow consumer), so the reply ends where the user stopped it.
                    continue
                delivered.append(text)
                yield TokenDelta(text)
        stats = await work.result()
        if stats.stopped:
            kept = await self._run(self._count_text, "".join(delivered))
            stats = dataclasses.replace(stats, completion_tokens=kept)
        yield stats

    def cost(self, stats: ChatStats) -> float | None:
        return None  # a local model costs nothing per token

    def _generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        cancel: threading.Event,
        emit: Callable[[Any], None],
        prompt_tokens: int,
    ) -> ChatStats:
        llm = self._llm
        if llm is None:
            raise GenerationError("No model is loaded.", "Pick a model first (ctrl+o).")
        started = time.perf_counter()
        first: float | None = None
        parts: list[str] = []
        finish = "stop"
        try:
            budget = max(1, min(params.max_tokens, self.context_size - prompt_tokens))
            chunks = llm.create_chat_completion(
                messages=messages,
                stream=True,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k,
                min_p=params.min_p,
                repeat_penalty=params.repeat_penalty,
                max_tokens=budget,
                stop=list(params.stop),
                seed=None if params.seed < 0 else params.seed,
                response_format=params.response_format(),
            )
            try:
                for chunk in chunks:
                    if cancel.is_set():
                        finish = "cancelled"
                        break
                    choice = chunk["choices"][0]
                    text = choice.get("delta", {}).get("content")
                    if text:
                        if first is None:
                            first = time.perf_counter()
                        parts.append(text)
                        emit(text)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
            finally:
                chunks.close()
            if cancel.is_set():
                finish = "cancelled"
        except Exception as exc:
            raise GenerationError(
                f"Generation failed in llama.cpp: {exc}.",
                "The partial reply was kept. Try again, or reload the model (ctrl+o).",
            ) from exc
        ended = time.perf_counter()
        text = "".join(parts)
        completion = self._count_text(text)
        return ChatStats.timed(prompt_tokens, completion, started, first, ended, finish,
                               self.context_size)  # fmt: skip

    # -- lifetime -------------------------------------------------------------

    def _close_sync(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    async def close(self) -> None:
        await self._run(self._close_sync)
        self._executor.shutdown(wait=False)
