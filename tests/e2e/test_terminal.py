"""The installed app in a real terminal (tmux): keys arrive as the bytes terminals send,
and the checks read what was drawn."""

from __future__ import annotations

import time


def test_first_run_streams_a_reply_then_ctrl_q_quits(terminal) -> None:
    term = terminal(size=(80, 24))
    term.wait_for("Type a message below and press Enter")
    term.type("Say hi")
    term.keys("Enter")
    shown = term.wait_for("tok/s", timeout=90)
    assert "Say hi" in shown and "Assistant" in shown and "TTFT" in shown
    term.keys("C-q")
    assert term.exited() == 0


def test_the_model_picker_opens_with_ctrl_o_and_esc_closes_it(terminal) -> None:
    term = terminal(size=(80, 24))
    term.wait_for("Type a message below")
    term.keys("C-o")
    shown = term.wait_for("Switch model")
    assert "SmolLM2-135M-Instruct" in shown
    term.keys("Escape")
    term.wait_for("Type a message below")
    assert "Switch model" not in term.screen()


def test_function_keys_open_every_screen(terminal) -> None:
    term = terminal(size=(120, 40))
    term.wait_for("Type a message below")
    term.keys("F2")
    term.wait_for("Hub")
    term.keys("F4")
    shown = term.wait_for("No NVIDIA driver", timeout=20)
    assert "host" in shown.lower()
    term.keys("F7")
    term.wait_for("Providers")
    term.keys("F1")
    term.wait_for("Type a message below")
    term.keys("C-q")
    assert term.exited() == 0


def test_alt_arrives_as_esc_prefix_and_ctrl_p_opens_the_palette(terminal) -> None:
    """ESC then a letter is how tmux and most terminals send Alt: it must not type the
    letter into the prompt, nor leave a stray escape behind."""
    term = terminal(size=(80, 24))
    term.wait_for("Type a message below")
    term.bytes(b"\x1bz")  # Alt+Z: bound to nothing
    term.type("ok")
    term.keys("C-p")
    term.wait_for("Search for commands")
    term.keys("Escape")
    shown = term.wait_for("ok")
    assert "zok" not in shown


def test_doctor_in_a_real_terminal_names_the_image_renderer_and_why(terminal) -> None:
    term = terminal("doctor", size=(120, 40))
    assert term.exited(30) == 0
    line = next(ln for ln in term.screen().splitlines() if ln.startswith("image renderer"))
    assert "halfcell:" in line or "sixel:" in line  # tmux: no kitty graphics


def test_studio_parameter_keys_and_a_generation(terminal, studio_dirs) -> None:
    """Alt+S as ESC s opens the size question (the prompt gets no "s"); F8 lists every
    parameter; Ctrl+G makes a picture with the tiny pipeline."""
    term = terminal(size=(80, 24))
    term.wait_for("Type a message below")
    term.keys("F3")
    term.wait_for("tiny-sd", timeout=30)
    term.type("a red fox")
    term.bytes(b"\x1bs")
    term.wait_for("Image size, WxH")
    term.keys("Escape")
    term.keys("F8")
    shown = term.wait_for("Parameters (Enter edits")
    assert "64x64" in shown and "Sampler" in shown
    term.keys("Escape")
    shown = term.wait_for("a red fox")
    assert "a red foxs" not in shown
    term.keys("C-g")
    term.wait_for("Saved 1 image", timeout=120)
    term.keys("C-q")
    assert term.exited() == 0


def test_hostile_file_names_do_not_reach_the_terminal_as_escapes(terminal, app_dirs) -> None:
    """A model file named with OSC 52 (clipboard) and OSC 2 (title) escapes, and one whose
    GGUF metadata carries them: the real terminal's clipboard and title stay untouched."""
    from ggufs import write_gguf

    payload = "\x1b]52;c;cHduZWQ=\x07\x1b]2;pwned\x07\x1b[2J"
    write_gguf(app_dirs["models"] / f"evil{payload}.gguf", architecture=f"arch{payload}")
    term = terminal(size=(80, 24))
    term.wait_for("Type a message below")
    before = term.title()
    name = "evil␛]52;c;cHduZWQ=␇␛]2;pwned␇␛[2J.gguf"  # shown, not obeyed
    term.keys("F2")
    term.keys("C-l")
    term.wait_for("Hub  Local  Downloads")
    shown = term.wait_for("SmolLM2-135M-Instruct")
    assert name in shown
    term.keys("F1")
    term.keys("C-o")
    term.wait_for("Switch model")
    time.sleep(0.5)
    assert "pwned" not in term.title() and term.title() == before
    assert term.buffers() == []


def test_ctrl_e_turns_the_message_into_pictures_in_the_chat(terminal, studio_dirs) -> None:
    """Ctrl+E (byte 0x05) on a written message: SmolLM2 plans, the tiny pipeline draws,
    and the pictures show in the conversation (half-cell blocks)."""
    term = terminal(size=(80, 24))
    term.wait_for("Type a message below")
    term.type("a red apple on a table")
    term.bytes(b"\x05")
    shown = term.wait_for("seed ", timeout=180)
    assert "Pictures" in shown and "▀" in shown
    assert "a red apple on a table" not in shown.splitlines()[-3]  # the box was emptied
    term.keys("C-q")
    assert term.exited() == 0
