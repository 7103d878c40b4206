"""LocalChatModel: the real SmolLM2 GGUF through llama.cpp, on its own worker thread."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from genai_tui.engine.core.errors import (
    GenerationError,
    ModelError,
    ModelNotFoundError,
    ModelTooLargeError,
    NotGGUFError,
    TruncatedModelError,
    UnsupportedArchitectureError,
)
from genai_tui.engine.core.events import ChatStats, TokenDelta
from genai_tui.engine.models.gguf_info import read_gguf
from genai_tui.engine.chat.local import LocalChatModel, SamplingParams, memory_needed

GREEDY = SamplingParams(temperature=0.0, max_tokens=24, seed=1)
ASK = [{"role": "user", "content": "Write a short poem about the sea."}]


@pytest.fixture(scope="module")
def model(smollm_path: Path):
    """SmolLM2 loaded once for the module (a 2048-token context keeps it small)."""
    m = LocalChatModel(smollm_path, context_length=2048, threads=0)
    asyncio.run(m.load())
    yield m
    asyncio.run(m.close())


STOPPED_AT: list[float] = []


async def collect(
    model: LocalChatModel,
    messages=ASK,
    params: SamplingParams = GREEDY,
    cancel: threading.Event | None = None,
    stop_after: int | None = None,
    delay: float = 0.0,
) -> tuple[list[str], list[str], ChatStats]:
    """(pieces before the stop, pieces after it, stats). Stops after `stop_after` pieces."""
    cancel = cancel or threading.Event()
    stats: list[ChatStats] = []
    before: list[str] = []
    after: list[str] = []
    async for delta in model.stream(messages, params, cancel):
        if isinstance(delta, ChatStats):  # the last item: the reply's stats
            stats.append(delta)
            continue
        assert not stats, "nothing comes after the stats"
        assert isinstance(delta, TokenDelta) and delta.text
        (after if cancel.is_set() else before).append(delta.text)
        if stop_after is not None and len(before) == stop_after and not cancel.is_set():
            cancel.set()
            STOPPED_AT.append(time.perf_counter())
        if delay:
            await asyncio.sleep(delay)  # a consumer slower than the model
    assert len(stats) == 1
    return before, after, stats[0]


def test_load_reports_what_was_loaded(smollm_path: Path) -> None:
    m = LocalChatModel(smollm_path, context_length=512)
    loaded = asyncio.run(m.load())
    try:
        assert m.loaded
        assert loaded.name == "SmolLM2-135M-Instruct.Q4_1"
        assert loaded.path == smollm_path
        assert loaded.context_size == 512 == m.context_size
        assert 0 < loaded.load_s < 30
        assert m.info is not None and m.info.architecture == "llama"
        if not loaded.on_gpu:
            assert loaded.gpu_layers == 0
    finally:
        asyncio.run(m.close())
    assert not m.loaded


def test_context_zero_uses_the_models_own(smollm_path: Path) -> None:
    m = LocalChatModel(smollm_path, context_length=0)
    try:
        assert asyncio.run(m.load()).context_size == 8192  # llama.context_length in the file
    finally:
        asyncio.run(m.close())


async def test_stream_yields_text_then_stats(model: LocalChatModel) -> None:
    pieces, after, stats = await collect(model)
    assert after == []
    text = "".join(pieces)
    assert len(pieces) > 3 and text.strip()
    assert stats.finish_reason in ("stop", "length")
    assert 0 < stats.completion_tokens <= GREEDY.max_tokens
    assert stats.ttft_s is not None and 0 < stats.ttft_s < stats.duration_s
    assert stats.tokens_per_s is not None and stats.tokens_per_s > 1
    assert stats.context_size == 2048
    assert not stats.stopped


async def test_max_tokens_ends_with_length(model: LocalChatModel) -> None:
    pieces, _, stats = await collect(model, params=SamplingParams(temperature=0, max_tokens=4))
    assert stats.finish_reason == "length"
    assert stats.completion_tokens == 4
    assert len(pieces) <= 4


async def test_greedy_is_deterministic(model: LocalChatModel) -> None:
    # llama.cpp reuses the longest cached prompt prefix, and evaluating a different number
    # of prompt tokens at once can round the last logits differently. So each run starts
    # from the same cache state: another prompt answered just before.
    other = [{"role": "user", "content": "What is the capital of France?"}]
    runs = []
    for _ in range(2):
        await collect(model, messages=other, params=SamplingParams(temperature=0, max_tokens=2))
        runs.append((await collect(model))[0])
    assert runs[0] == runs[1] != []


async def test_same_seed_same_sample(model: LocalChatModel) -> None:
    params = SamplingParams(temperature=1.2, top_k=0, top_p=1.0, max_tokens=16, seed=1234)
    a, _, _ = await collect(model, params=params)
    b, _, _ = await collect(model, params=params)
    assert a == b


@pytest.mark.parametrize("delay", [0.0, 0.05], ids=["fast-consumer", "slow-consumer"])
async def test_cancel_stops_within_one_token(model: LocalChatModel, delay: float) -> None:
    params = SamplingParams(temperature=0, max_tokens=200)
    before, after, stats = await collect(model, params=params, stop_after=4, delay=delay)
    ended = time.perf_counter()
    assert len(before) == 4
    assert len(after) <= 1  # nothing the worker queued after the stop reaches the user
    assert stats.finish_reason == "cancelled" and stats.stopped
    # the completion counts the kept text, not what was generated and dropped
    kept = len(model._llm.tokenize("".join(before + after).encode(), add_bos=False, special=True))
    assert stats.completion_tokens == kept
    assert ended - STOPPED_AT[-1] < 2  # one token and a clean-up, not 196 more tokens
    # and the model still answers normally afterwards
    pieces, _, again = await collect(model)
    assert pieces and again.finish_reason in ("stop", "length")


async def test_cancel_before_the_first_token(model: LocalChatModel) -> None:
    cancel = threading.Event()
    cancel.set()
    before, after, stats = await collect(model, cancel=cancel)
    assert before == [] and after == []
    assert stats.stopped and stats.completion_tokens == 0


async def test_abandoning_the_stream_stops_the_worker(model: LocalChatModel) -> None:
    cancel = threading.Event()
    agen = model.stream(ASK, SamplingParams(temperature=0, max_tokens=200), cancel)
    await agen.__anext__()
    await agen.aclose()  # e.g. the UI worker was cancelled
    assert cancel.is_set()
    pieces, _, again = await collect(model)  # the worker thread is free again
    assert pieces and not again.stopped


async def test_count_prompt_uses_the_chat_template(model: LocalChatModel) -> None:
    tokens, prompt = await model.count_prompt(ASK)
    # SmolLM2's template adds its own system prompt when there is none
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert prompt.endswith("<|im_start|>assistant\n")
    assert "Write a short poem about the sea." in prompt
    assert tokens == len(model._llm.tokenize(prompt.encode(), add_bos=False, special=True))
    longer, _ = await model.count_prompt(
        [{"role": "system", "content": "Be brief. " * 50}, *ASK]
    )
    assert longer > tokens + 80


async def test_prompt_larger_than_the_context_is_a_generation_error(
    model: LocalChatModel,
) -> None:
    huge = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(GenerationError, match="exceed context window"):
        await collect(model, messages=huge)
    pieces, _, stats = await collect(model)  # still usable
    assert pieces and not stats.stopped


async def test_stream_without_a_loaded_model(smollm_path: Path) -> None:
    m = LocalChatModel(smollm_path)
    try:
        with pytest.raises(GenerationError, match="No model is loaded"):
            await collect(m)
    finally:
        await m.close()


def test_memory_estimate_grows_with_context(smollm_path: Path) -> None:
    info = read_gguf(smollm_path)
    small, large = memory_needed(info, 512), memory_needed(info, 8192)
    assert small > info.tensor_bytes
    assert large - small == (8192 - 512) * info.kv_bytes_per_token()


async def load_error(path: Path, **kwargs) -> ModelError:
    m = LocalChatModel(path, **kwargs)
    try:
        with pytest.raises(ModelError) as err:
            await m.load()
        assert not m.loaded
        return err.value
    finally:
        await m.close()


async def test_missing_file(tmp_path: Path) -> None:
    err = await load_error(tmp_path / "gone.gguf")
    assert isinstance(err, ModelNotFoundError)
    assert "gone.gguf" in str(err)


async def test_not_gguf(not_gguf: Path) -> None:
    err = await load_error(not_gguf)
    assert isinstance(err, NotGGUFError)
    assert str(not_gguf) in str(err)


async def test_truncated(truncated_data: Path, truncated_header: Path) -> None:
    for path in (truncated_data, truncated_header):
        err = await load_error(path)
        assert isinstance(err, TruncatedModelError)
        assert str(path) in str(err)


async def test_unsupported_architecture(unknown_arch: Path) -> None:
    err = await load_error(unknown_arch, context_length=64)
    assert isinstance(err, UnsupportedArchitectureError)
    assert "future-model.gguf" in str(err)
    assert "'notarealarch'" in str(err)
    assert "Upgrade llama-cpp-python" in err.hint


async def test_too_large_for_memory(smollm_path: Path) -> None:
    import psutil

    info = read_gguf(smollm_path)
    per_token = info.kv_bytes_per_token()
    assert per_token
    n_ctx = psutil.virtual_memory().available // per_token * 2  # twice what fits
    m = LocalChatModel(smollm_path, context_length=n_ctx)
    try:
        import llama_cpp

        if llama_cpp.llama_supports_gpu_offload():
            pytest.skip("the host-memory check applies to CPU builds")
        with pytest.raises(ModelTooLargeError) as err:
            await m.load()
        assert "GiB" in str(err.value) and f"{n_ctx:,}-token" in str(err.value)
        assert "context_length" in err.value.hint
    finally:
        await m.close()


async def test_good_model_loads_after_failures(
    smollm_path: Path, not_gguf: Path, unknown_arch: Path
) -> None:
    await load_error(not_gguf)
    await load_error(unknown_arch, context_length=64)
    m = LocalChatModel(smollm_path, context_length=512)
    try:
        await m.load()
        pieces, _, stats = await collect(m, params=SamplingParams(temperature=0, max_tokens=4))
        assert pieces and stats.completion_tokens == 4
    finally:
        await m.close()
