"""Files in a message (engine/chat/attachments.py) counted with the real SmolLM2 tokenizer,
refused or trimmed when too large, binary files refused; images as OpenAI content parts
sent to a real loopback OpenAI-compatible server (engine/chat/vision.py)."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import os
from pathlib import Path

import pytest
from openai_faults import REPLY, FaultServer

from genai_tui.config import load_settings
from genai_tui.engine.chat.attachments import (
    AttachmentError,
    ChatAttachments,
    TooLargeError,
    message_with_files,
)
from genai_tui.engine.chat.openai_chunks import chat_body
from genai_tui.engine.chat.sampling import SamplingParams
from genai_tui.engine.chat.vision import image_part, reply_with_images
from genai_tui.engine.core.events import ChatDone
from genai_tui.engine.engine import Engine

MODEL_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
CODE = "def greet(name):\n    return f'Hello, {name}!'\n\nprint(greet('sea'))\n"


@pytest.fixture(scope="module")
def engine(smollm_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """SmolLM2 loaded with a 512-token context (256 of it kept for the reply)."""
    folder = tmp_path_factory.mktemp("attach")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("GENAI_TUI_"):
                mp.delenv(name)
        settings = load_settings(folder / "config.toml", data_dir=folder / "data",
                                 models_dir=folder / "models",
                                 generation={"context_length": 512, "max_tokens": 256,
                                             "temperature": 0.0})  # fmt: skip
    settings.models_path.mkdir(parents=True)
    os.link(smollm_file, settings.models_path / MODEL_NAME)
    eng = Engine(settings)
    asyncio.run(eng.load_model(MODEL_NAME))
    yield eng
    asyncio.run(eng.aclose())


@pytest.fixture(scope="module")
def vocab(smollm_file: Path):
    """The model's own tokenizer, loaded apart from the engine (vocab only)."""
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(smollm_file), vocab_only=True, verbose=False)
    return lambda text: len(llm.tokenize(text.encode(), add_bos=False, special=True))


async def test_a_text_file_is_counted_with_the_models_tokenizer(
    engine: Engine, vocab, tmp_path: Path
) -> None:
    path = tmp_path / "main.py"
    path.write_text(CODE)
    helper = ChatAttachments(engine)
    counter = await helper.counter(engine.new_conversation(MODEL_NAME).id)
    assert not counter.estimated and counter.context == 512 and counter.reserve == 256
    attached = await helper.attach(path, counter)
    assert attached.tokens == vocab(attached.block) > 10
    assert attached.label == f"main.py · {attached.tokens:,} tokens"
    assert attached.block.startswith("File: main.py\n```\n") and CODE in attached.block
    text = message_with_files("What does it print?", [attached])
    assert text == attached.block + "\n\nWhat does it print?"


async def test_a_name_is_data_and_a_fence_in_the_file_cannot_close_the_block(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "evil\x1b[31m\nname.md"
    path.write_text("````\nnot the end\n")
    counter = await ChatAttachments(engine).counter()
    attached = await ChatAttachments(engine).attach(path, counter)
    assert "\x1b" not in attached.name and "\n" not in attached.name
    assert attached.name == "evil␛[31m␊name.md"
    assert attached.block.splitlines()[1] == "`````"  # longer than any fence inside


async def test_a_file_too_large_is_refused_with_the_numbers_or_trimmed(
    engine: Engine, vocab, tmp_path: Path
) -> None:
    path = tmp_path / "server.log"
    path.write_text("".join(f"line {i}: request served in {i % 97} ms\n" for i in range(400)))
    helper = ChatAttachments(engine)
    counter = await helper.counter()
    fit = await helper.measure(path, counter)
    assert not fit.fits and fit.room == 512 - 256 - fit.used and fit.used == counter.used + 1
    with pytest.raises(TooLargeError) as refused:
        await helper.attach(path, counter)
    assert str(refused.value).startswith(
        f"server.log takes {fit.attachment.tokens:,} tokens, but the context has "
        f"{fit.room:,} left (512 in all, 256 kept for the reply, {fit.used:,} already used)."
    )
    cut = await helper.attach(path, counter, trim=True)
    assert cut.tokens == vocab(cut.block) <= fit.room
    assert cut.tokens > fit.room - 20  # as much of the head as fits
    assert cut.block.startswith("File: server.log\n```\nline 0: request served in 0 ms\n")
    assert "lines were left out]" in cut.block and "of 400 lines" in cut.block
    assert cut.cut_tokens > 0 and cut.label.endswith("· trimmed")
    # A second file has less room: the first one's tokens are taken.
    small = tmp_path / "small.txt"
    small.write_text("word " * 30)
    with pytest.raises(AttachmentError, match="No room for any of small.txt"):
        await helper.attach(small, counter, [cut], trim=True)
    # What is typed takes room too.
    typed = await helper.measure(small, counter, typed="Summarise these lines, please.")
    assert typed.used > fit.used + 5


async def test_binary_files_images_folders_and_missing_files_are_refused(
    engine: Engine, tmp_path: Path
) -> None:
    helper = ChatAttachments(engine)
    counter = await helper.counter()
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02abc\xff\xfe")
    (tmp_path / "latin1.txt").write_bytes("café".encode("latin-1"))
    (tmp_path / "cat.png").write_bytes(PNG)
    cases = {
        "blob.bin": "blob.bin is a binary file, not UTF-8 text",
        "latin1.txt": "latin1.txt is a binary file, not UTF-8 text",
        "cat.png": "cat.png is an image (image/png), not text. Images go to a remote vision",
        ".": "is a folder",
        "nope.txt": "No file at",
    }
    for name, said in cases.items():
        with pytest.raises(AttachmentError) as refused:
            await helper.attach(tmp_path / name, counter)
        assert said in str(refused.value)


@pytest.mark.skipif(importlib.util.find_spec("pypdf") is not None, reason="pypdf installed")
async def test_a_pdf_without_pypdf_says_what_to_install(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "paper.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    counter = await ChatAttachments(engine).counter()
    with pytest.raises(AttachmentError, match=r"paper.pdf is a PDF; reading its text needs "
                       r"pypdf.*pip install pypdf"):  # fmt: skip
        await ChatAttachments(engine).attach(tmp_path / "paper.pdf", counter)


# -- a remote model: an estimate; images as content parts ------------------------------


@pytest.fixture
def remote(tmp_path: Path):
    with FaultServer() as server:
        (tmp_path / "config.toml").write_text(
            f'[[providers]]\nname = "vis"\nbase_url = "{server.url}"\n'
        )
        settings = load_settings(tmp_path / "config.toml", data_dir=tmp_path / "data",
                                 models_dir=tmp_path / "models")  # fmt: skip
        yield server, Engine(settings)


async def test_a_remote_model_counts_an_estimate_and_says_so(remote, tmp_path: Path) -> None:
    server, engine = remote
    try:
        (tmp_path / "notes.md").write_text("# Notes\n\n" + "lorem ipsum " * 50)
        helper = ChatAttachments(engine)
        counter = await helper.counter(provider="vis", model="fault-model")
        attached = await helper.attach(tmp_path / "notes.md", counter)
        assert attached.estimated and "(estimate)" in attached.label
        assert attached.label.startswith("notes.md · ~")
    finally:
        await engine.aclose()


async def test_images_reach_the_server_as_image_url_data_urls(remote, tmp_path: Path) -> None:
    server, engine = remote
    try:
        (tmp_path / "cat.png").write_bytes(PNG)
        (tmp_path / "dog.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(30))
        conv = engine.new_conversation("fault-model", provider="vis")
        events = [e async for e in reply_with_images(engine, conv.id, "What is this?",
                                                     [tmp_path / "cat.png", tmp_path / "dog.jpg"])]  # fmt: skip
        assert isinstance(events[-1], ChatDone) and events[-1].text == REPLY
        user = server.chat_requests()[-1]["body"]["messages"][-1]
        assert user["role"] == "user"
        text, png, jpg = user["content"]
        assert text == {"type": "text", "text": "What is this?"}
        assert png["type"] == "image_url" and jpg["type"] == "image_url"
        head, _, data = png["image_url"]["url"].partition(",")
        assert head == "data:image/png;base64" and base64.b64decode(data) == PNG
        assert jpg["image_url"]["url"].startswith("data:image/jpeg;base64,")
        # The history keeps the text; the next turn is text only.
        assert [m.content for m in engine.messages(conv.id)] == ["What is this?", REPLY]
    finally:
        await engine.aclose()


def test_a_file_that_is_not_an_image_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("hello")
    with pytest.raises(AttachmentError, match="a.txt is not a PNG, JPEG, GIF or WebP image"):
        image_part(tmp_path / "a.txt")


def test_text_only_messages_are_sent_as_they_were() -> None:
    params = SamplingParams.from_mapping({})
    body = chat_body("m", [{"role": "user", "content": "hi"}], params)
    assert body["messages"] == [{"role": "user", "content": "hi"}]
