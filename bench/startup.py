"""Start-up cost: `genai-tui --help`, the TUI's first frame in a real terminal, its memory.

  --help          wall time of `genai-tui --help` in a subprocess (median of --runs)
  first frame     `tmux new-session -d -x 120 -y 40 'genai-tui --data-dir TMP'`, then
                  `tmux capture-pane -p` every ~10 ms until the chat screen shows its
                  prompt box and footer: time from starting the session to that frame
                  (the chat screen's first frame, drawn before the settings and the
                  engine load: genai_tui/boot.py)
  ready           then until the live chat screen has opened (its messages pane says
                  "Type a message below" or "No GGUF chat model found")
  RSS             VmHWM (peak resident memory) of the app's process, read from
                  /proc/PID/status as soon as that frame is seen
  bare Textual    the same first-frame measurement for a tiny Textual app (a Static and
                  a Footer), run in this process's interpreter: the floor we build on

Every run is isolated: GENAI_TUI_CONFIG points at a missing file, the data dir and
HF_HUB_CACHE are empty temp dirs, GENAI_TUI_* variables are dropped. One untimed
start of each app warms the OS file cache first. A private tmux server (its own
socket) is started once and kept for all runs, so its start-up is not counted.

    .venv/bin/python bench/startup.py [--runs 5] [--json] [--importtime]

`--importtime` also prints which imports dominate the --help path and the TUI path
(from `python -X importtime`, the TUI one captured from the real app in tmux).
Needs Linux and tmux (`apt-get install -y tmux`).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZE = (120, 40)
POLL_S = 0.010
TIMEOUT_S = 20.0
# Text that is on screen once the chat screen's first frame is drawn: the prompt box's
# placeholder and the footer's command-palette hint. The app draws that frame first
# (genai_tui/boot.py) and opens the live chat screen just after it, which then says one
# of READY_MARKERS in the messages pane: "ready" is when that shows.
APP_MARKERS = ("Enter sends", "palette")
READY_MARKERS = ("Type a message below", "No GGUF chat model found")
BARE_MARKERS = ("bare textual ready", "palette")
# Variables a pane's command sets (or unsets) itself, whatever the tmux server holds.
PANE_VARS = ("GENAI_TUI_CONFIG", "HF_HUB_CACHE", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")

TARGETS = {"help_s": 0.3, "first_frame_s": 0.4, "rss_mib": 80.0}
# Figures quoted in the issue for comparable chat TUIs (--help, first frame, RSS).
PEERS = [
    ("elia", 0.52, 0.43, 77),
    ("parllama", 0.69, 3.6, 297),
    ("oterm", 0.80, 4.9, 255),
]
PEER_BARE_TEXTUAL_FIRST_FRAME_S = 0.17
FRAME_OVER_BARE = 1.3  # issue 14: the first frame within 1.3 x a bare Textual app's

BARE_APP = """\
from textual.app import App, ComposeResult
from textual.widgets import Footer, Static


class Bare(App):
    def compose(self) -> ComposeResult:
        yield Static("bare textual ready")
        yield Footer()


Bare().run()
"""


IMPORTTIME_WRAPPER = """\
import os
import sys

terminal = os.dup(2)
log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
os.dup2(log, 2)  # -X importtime writes to fd 2
sys.stderr = sys.__stderr__ = open(terminal, "w", closefd=False)  # Textual draws here
sys.argv = ["genai-tui", *sys.argv[2:]]
from genai_tui.cli import main

raise SystemExit(main())
"""


@dataclass
class Frame:
    seconds: float
    rss_mib: float | None
    cpu_s: float | None  # user + system CPU of the app's process at that frame
    ready_s: float | None = None  # the live chat screen (READY_MARKERS) on the terminal


# -- environment --------------------------------------------------------------------------


def app_executable() -> Path:
    """The `genai-tui` script beside this interpreter (the venv's), else on PATH."""
    candidate = Path(sys.executable).parent / "genai-tui"
    if candidate.exists():
        return candidate
    found = shutil.which("genai-tui")
    if found is None:
        raise SystemExit("genai-tui is not installed in this environment (pip install -e .)")
    return Path(found)


def isolated_env(tmp: Path, bytecode_cache: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENAI_TUI_")}
    env["GENAI_TUI_CONFIG"] = str(tmp / "missing-config.toml")
    env["HF_HUB_CACHE"] = str(tmp / "hf-cache")
    env.pop("TMUX", None)  # we may be run from inside tmux: our server is separate
    if bytecode_cache:
        # As after `pip install`: modules load from .pyc. An editable install under
        # PYTHONDONTWRITEBYTECODE=1 would recompile our sources on every start.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def ensure_tmux() -> str:
    tmux = shutil.which("tmux")
    if tmux:
        return tmux
    print("tmux not found; installing it with apt-get…", file=sys.stderr)
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "update"], check=True, **quiet)
    subprocess.run([*sudo, "apt-get", "install", "-y", "tmux"], check=True, **quiet)
    tmux = shutil.which("tmux")
    if not tmux:
        raise SystemExit("could not install tmux; install it and run again")
    return tmux


# -- --help -------------------------------------------------------------------------------


def time_command(argv: Sequence[str], env: dict[str, str], runs: int) -> float:
    """Median wall time of running `argv` to completion."""
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)  # warm the cache
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


# -- first frame in tmux ------------------------------------------------------------------


class Tmux:
    """A private tmux server (own socket, no user config), kept alive by an idle session."""

    def __init__(self, tmux: str, env: dict[str, str]) -> None:
        self.base = [tmux, "-L", f"genai-bench-{os.getpid()}", "-f", "/dev/null"]
        self.env = env
        self._count = 0
        self.run("new-session", "-d", "-s", "keep", "sleep 86400")

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], env=self.env, capture_output=True, text=True, check=True
        )
        return done.stdout

    def capture(self, session: str) -> str | None:
        """The pane's text, or None once the session is gone (its command exited)."""
        done = subprocess.run(
            [*self.base, "capture-pane", "-p", "-t", session],
            env=self.env, capture_output=True, text=True,
        )  # fmt: skip
        return done.stdout if done.returncode == 0 else None

    def first_frame(self, command: str, markers: Sequence[str],
                    ready: Sequence[str] = ()) -> Frame:  # fmt: skip
        """Start `command` in a new session; time until every marker is on screen (and
        then until any of `ready` is)."""
        self._count += 1
        session = f"run{self._count}"
        width, height = SIZE
        started = time.perf_counter()
        self.run("new-session", "-d", "-s", session, "-x", str(width), "-y", str(height), command)
        try:
            screen: str | None = ""
            while time.perf_counter() - started < TIMEOUT_S:
                screen = self.capture(session)
                if screen is None:
                    raise RuntimeError(f"the command exited before its first frame: {command}")
                if all(m in screen for m in markers):
                    seconds = time.perf_counter() - started
                    pid = python_pid(self.pane_pid(session))
                    frame = Frame(seconds, peak_rss_mib(pid), cpu_seconds(pid))
                    while ready and time.perf_counter() - started < TIMEOUT_S:
                        if any(m in (self.capture(session) or "") for m in ready):
                            frame.ready_s = time.perf_counter() - started
                            break
                        time.sleep(POLL_S)
                    return frame
                time.sleep(POLL_S)
            raise RuntimeError(
                f"no first frame after {TIMEOUT_S:.0f} s (waiting for {list(markers)}); "
                f"the pane shows:\n{(screen or '').rstrip() or '(nothing)'}"
            )
        finally:
            subprocess.run([*self.base, "kill-session", "-t", session], env=self.env,
                           capture_output=True)  # fmt: skip

    def pane_pid(self, session: str) -> int | None:
        try:
            return int(self.run("display", "-p", "-t", session, "#{pane_pid}").strip())
        except (subprocess.CalledProcessError, ValueError):
            return None

    def close(self) -> None:
        try:
            socket = self.run("display", "-p", "-t", "keep", "#{socket_path}").strip()
        except subprocess.CalledProcessError:
            socket = ""
        subprocess.run([*self.base, "kill-server"], env=self.env, capture_output=True)
        if socket:  # tmux leaves its socket file behind
            Path(socket).unlink(missing_ok=True)


def _status(pid: int) -> dict[str, str]:
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def python_pid(pane_pid: int | None) -> int | None:
    """The Python process in the pane (the pane's process, or its descendant)."""
    todo = [pane_pid] if pane_pid is not None else []
    while todo:
        pid = todo.pop(0)
        try:
            status = _status(pid)
        except OSError:
            continue
        if status.get("Name", "").startswith("python") or "genai-tui" in status.get("Name", ""):
            return pid
        todo.extend(_children(pid))
    return None


def peak_rss_mib(pid: int | None) -> float | None:
    """VmHWM (peak resident set) of `pid`."""
    try:
        return int(_status(pid).get("VmHWM", "0 kB").split()[0]) / 1024 if pid else None
    except OSError:
        return None


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU time of `pid` so far: the start-up's work, whatever else the
    machine runs meanwhile (wall time on a busy 2-core box waits for the CPU too)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, TypeError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def shell_command(env: dict[str, str], argv: Sequence[str]) -> str:
    """`env ... argv` for a tmux pane: the isolation variables set (or unset) explicitly."""
    unset = [word for name in PANE_VARS if name not in env for word in ("-u", name)]
    assign = [f"{name}={env[name]}" for name in PANE_VARS if name in env]
    return shlex.join(["env", *unset, *assign, *argv])


# -- import profile (--importtime) --------------------------------------------------------


def _importtime_lines(text: str) -> str:
    return "\n".join(ln for ln in text.splitlines() if ln.startswith("import time:"))


def import_profiles(tmux: Tmux, exe: Path, env: dict[str, str], tmp: Path) -> dict[str, str]:
    """`python -X importtime` logs of the --help path and of the TUI path."""
    help_run = subprocess.run(
        [sys.executable, "-X", "importtime", str(exe), "--help"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip

    # The TUI path: the real app under tmux. The import log goes to stderr, and so
    # does Textual's output, so a wrapper points fd 2 at a file and gives Textual
    # the terminal through a duplicate of it.
    log = tmp / "importtime.log"
    wrapper = tmp / "importtime_wrapper.py"
    wrapper.write_text(IMPORTTIME_WRAPPER)
    argv = [sys.executable, "-X", "importtime", str(wrapper), str(log), "--data-dir",
            str(tmp / "data")]  # fmt: skip
    command = shell_command(env, argv)
    tmux.first_frame(command, APP_MARKERS)
    return {"--help": help_run.stderr, "TUI (until its first frame)": log.read_text()}


def report_imports(label: str, text: str, limit: int = 10) -> None:
    """Print the import time of one path: by package (self time) and the top-level chain."""
    total = 0.0
    by_package: dict[str, float] = {}
    top_level: list[tuple[float, str]] = []
    for line in text.splitlines():
        parts = line.split("|")
        if not line.startswith("import time:") or len(parts) != 3:
            continue
        try:
            self_s = int(parts[0].split(":")[1]) / 1e6
            cumulative_s = int(parts[1]) / 1e6
        except ValueError:  # the header line
            continue
        name = parts[2].rstrip()
        module = name.strip()
        total += self_s
        package = module.split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + self_s
        if len(name) - len(name.lstrip(" ")) <= 1:  # not indented: imported at top level
            top_level.append((cumulative_s, module))
    print(f"\nimports on the {label} path: {total * 1000:.0f} ms in all "
          "(python -X importtime, which inflates them)")  # fmt: skip
    print("  by package (own time):  " + ", ".join(
        f"{name} {seconds * 1000:.0f}"
        for name, seconds in sorted(by_package.items(), key=lambda kv: -kv[1])[:limit]
    ) + " ms")  # fmt: skip
    print("  top-level imports (with what they import):  " + ", ".join(
        f"{name} {seconds * 1000:.0f}" for seconds, name in sorted(top_level, reverse=True)[:6]
    ) + " ms")  # fmt: skip


# -- main ---------------------------------------------------------------------------------


def bench(args: argparse.Namespace) -> dict[str, Any]:
    exe = app_executable()
    tmp = Path(tempfile.mkdtemp(prefix="genai-bench-startup-"))
    env = isolated_env(tmp, bytecode_cache=not args.no_bytecode_cache)
    tmux = Tmux(ensure_tmux(), env)
    try:
        help_s = time_command([str(exe), "--help"], env, args.runs)
        python_s = time_command([sys.executable, "-c", "pass"], env, args.runs)

        app_cmd = shell_command(env, [str(exe), "--data-dir", str(tmp / "data")])
        bare_file = tmp / "bare_textual_app.py"
        bare_file.write_text(BARE_APP)
        bare_cmd = shell_command(env, [sys.executable, str(bare_file)])

        # Interleave the two apps so machine noise hits both alike.
        tmux.first_frame(app_cmd, APP_MARKERS)
        tmux.first_frame(bare_cmd, BARE_MARKERS)
        app_frames: list[Frame] = []
        bare_frames: list[Frame] = []
        for _ in range(args.runs):
            app_frames.append(tmux.first_frame(app_cmd, APP_MARKERS, READY_MARKERS))
            bare_frames.append(tmux.first_frame(bare_cmd, BARE_MARKERS))

        profiles = import_profiles(tmux, exe, env, tmp) if args.importtime else {}
    finally:
        tmux.close()
        shutil.rmtree(tmp, ignore_errors=True)

    rss = [f.rss_mib for f in app_frames if f.rss_mib is not None]
    bare_rss = [f.rss_mib for f in bare_frames if f.rss_mib is not None]
    frame = statistics.median(f.seconds for f in app_frames)
    bare = statistics.median(f.seconds for f in bare_frames)
    cpu = _median([f.cpu_s for f in app_frames])
    bare_cpu = _median([f.cpu_s for f in bare_frames])
    return {
        "help_s": round(help_s, 4),
        "first_frame_s": round(frame, 4),
        "rss_mib": round(statistics.median(rss), 1) if rss else None,
        "bare_textual_first_frame_s": round(bare, 4),
        "first_frame_over_bare": round(frame / bare, 3),
        "cpu_s": cpu,
        "bare_cpu_s": bare_cpu,
        "cpu_over_bare": round(cpu / bare_cpu, 3) if cpu and bare_cpu else None,
        "ready_s": _median([f.ready_s for f in app_frames]),
        "_python_s": round(python_s, 4),
        "_bare_rss_mib": round(statistics.median(bare_rss), 1) if bare_rss else None,
        "_frames": [round(f.seconds, 3) for f in app_frames],
        "_profiles": profiles,
        "_bytecode_cache": not args.no_bytecode_cache,
    }


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 3) if known else None


def report(r: dict[str, Any], runs: int) -> None:
    def fmt(value: float | None, unit: str) -> str:
        if value is None:
            return "?"
        return f"{value:.0f} MiB" if unit == "MiB" else f"{value:.2f} s"

    cache = "from .pyc" if r["_bytecode_cache"] else "no .pyc cache (compiled each start)"
    print(f"\nmedians of {runs} runs, terminal {SIZE[0]}x{SIZE[1]} (tmux), modules {cache}\n")
    print(f"{'':<22} {'--help':>8} {'1st frame':>10} {'RSS':>8}")
    print(f"{'genai-tui (this run)':<22} {fmt(r['help_s'], 's'):>8} "
          f"{fmt(r['first_frame_s'], 's'):>10} {fmt(r['rss_mib'], 'MiB'):>8}")  # fmt: skip
    print(f"{'bare Textual (this run)':<22} {'':>8} "
          f"{fmt(r['bare_textual_first_frame_s'], 's'):>10} "
          f"{fmt(r['_bare_rss_mib'], 'MiB'):>8}")  # fmt: skip
    print(f"{'python -c pass':<22} {fmt(r['_python_s'], 's'):>8}")
    print(f"{'target':<22} {'≤ ' + fmt(TARGETS['help_s'], 's'):>8} "
          f"{'≤ ' + fmt(TARGETS['first_frame_s'], 's'):>10} "
          f"{'≤ ' + fmt(TARGETS['rss_mib'], 'MiB'):>8}")  # fmt: skip
    print("\npeers, as quoted in the issue (other machine; for context only):")
    for name, help_s, frame_s, rss in PEERS:
        print(f"{name:<22} {help_s:>6.2f} s {frame_s:>8.2f} s {rss:>4} MiB")
    print(f"{'bare Textual':<22} {'':>8} {PEER_BARE_TEXTUAL_FIRST_FRAME_S:>8.2f} s")
    print()
    over = r["first_frame_s"] - r["bare_textual_first_frame_s"]
    print(f"first frame: {over * 1000:.0f} ms over a bare Textual app measured the same way; "
          f"each run: {', '.join(f'{s:.3f}' for s in r['_frames'])} s")  # fmt: skip
    print(f"first frame over bare Textual: {r['first_frame_over_bare']:.2f} x (target "
          f"≤ {FRAME_OVER_BARE} x); CPU at the first frame {fmt(r['cpu_s'], 's')} vs "
          f"{fmt(r['bare_cpu_s'], 's')} ({r['cpu_over_bare']} x)")  # fmt: skip
    print(f"the live chat screen (chat list, model, keys all working) followed at "
          f"{fmt(r['ready_s'], 's')}")  # fmt: skip
    for key, target in TARGETS.items():
        value = r[key]
        met = value is not None and value <= target
        print(f"target  {key} ≤ {target}: {value} {'met' if met else 'MISSED'}")
    for label, text in r["_profiles"].items():
        report_imports(label, text)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="timed runs of each (default 5)")
    p.add_argument("--importtime", action="store_true",
                   help="also show which imports dominate each path")  # fmt: skip
    p.add_argument("--no-bytecode-cache", action="store_true",
                   help="keep this environment's PYTHONDONTWRITEBYTECODE (by default a "
                   "private .pyc cache is used, as after a normal install)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object, nothing else")
    args = p.parse_args(argv)
    if args.runs < 1:
        p.error("--runs must be ≥ 1")
    if not sys.platform.startswith("linux"):
        p.error("needs Linux (/proc) and tmux")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = bench(args)
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"startup: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}))
    else:
        report(result, args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
