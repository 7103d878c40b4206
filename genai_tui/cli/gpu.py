"""`genai-tui gpu`: the GPUs, their processes and the host, once, as JSON, or refreshed.

Standard library only at the top, like the rest of cli/: NVML and psutil are imported when
the command runs. Without an NVIDIA driver or GPU the host is shown, a note goes
to stderr, and the exit code is 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.gpu.nvml import Snapshot


def _seconds(text: str) -> float:
    value = float(text)
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0.1 and 3600 seconds, not {text}")
    return value


def add_parser(sub: Any) -> None:
    gpu = sub.add_parser(
        "gpu",
        help="show the GPUs, their processes and the host",
        description="Utilization, memory, temperature, power, clocks and fan of each "
        "NVIDIA GPU (n/a where a GPU does not report it), the processes using them, and "
        "the host's CPU and memory. Works without a GPU (host only, with a note).",
    )
    gpu.add_argument("--json", action="store_true",
                     help="print one JSON object (with --watch: one per line)")  # fmt: skip
    gpu.add_argument("--watch", nargs="?", type=_seconds, const=0.0, default=None,
                     metavar="SECONDS", help="refresh every SECONDS until Ctrl+C "
                     "(default: the gpu.interval_s setting)")  # fmt: skip


def run(args: argparse.Namespace, settings: Settings) -> int:
    from genai_tui.engine.gpu.nvml import HostReader, NvmlReader, snapshot

    nvml, host = NvmlReader(), HostReader()
    out = sys.stdout
    noted = False
    try:
        if args.watch is None:
            nvml.open()
            time.sleep(0.2)  # CPU use is measured between two readings
            snap = snapshot(nvml, host)
            _note(snap)
            out.write(_json(snap) + "\n" if args.json else render(snap, out.isatty()))
            return 0
        interval = args.watch or settings.gpu.interval_s
        clear = out.isatty() and not args.json
        nvml.open()
        while True:
            started = time.monotonic()
            snap = snapshot(nvml, host)
            if not noted:
                noted = _note(snap) or True
            if args.json:
                out.write(_json(snap) + "\n")
            else:
                head = f"Every {interval:g}s: genai-tui gpu    {time.strftime('%H:%M:%S')}\n\n"
                out.write(("\x1b[H\x1b[2J" if clear else "") + head + render(snap, out.isatty()))
                if not clear:
                    out.write("\n")
            out.flush()
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    except KeyboardInterrupt:
        return 130
    finally:
        nvml.close()


def _note(snap: Snapshot) -> bool:
    if snap.state != "ok":
        print(f"genai-tui: {snap.message}", file=sys.stderr)
        return True
    return False


def _json(snap: Snapshot) -> str:
    data = asdict(snap)
    data.pop("seq", None)
    data["processes"] = [asdict(p) for p in snap.processes]
    for gpu in data["gpus"]:
        gpu.pop("processes", None)
    return json.dumps(data)


def render(snap: Snapshot, tty: bool = False) -> str:
    """The one-shot table: GPUs, processes, host."""
    from genai_tui.cli.common import table as _table
    from genai_tui.engine.core.text import human_bytes, printable
    from genai_tui.engine.gpu.nvml import na

    clean = printable if tty else (lambda s: s)
    parts: list[str] = []
    if snap.gpus:
        rows = []
        for g in snap.gpus:
            if g.lost:
                rows.append((str(g.index), clean(g.name), "lost", "", "", "", "", ""))
                continue
            mem = "n/a" if g.mem_used is None else (
                f"{g.mem_used / 2**30:.1f}/{na(g.mem_total and g.mem_total / 2**30, '{:.1f}')} GiB"
            )  # fmt: skip
            power = "n/a" if g.power_w is None else (
                f"{g.power_w:.0f}/{na(g.power_limit_w, '{:.0f}')} W"
            )  # fmt: skip
            clocks = f"{na(g.clock_sm_mhz)}/{na(g.clock_mem_mhz)} MHz"
            rows.append((str(g.index), clean(g.name), na(g.util_gpu, "{}%"), mem,
                         na(g.temp_c, "{}°C"), power, na(g.fan_pct, "{}%"), clocks))  # fmt: skip
        header = ("GPU", "NAME", "UTIL", "MEMORY", "TEMP", "POWER", "FAN", "CLOCKS SM/MEM")
        parts.append(f"NVIDIA driver {na(snap.driver)} · CUDA {na(snap.cuda)}\n")
        parts.append(_table(rows, header, right=(2, 3, 4, 5, 6)))
        procs = sorted(snap.processes, key=lambda p: -(p.gpu_memory or -1))
        if procs:
            prow = [(str(p.gpu), str(p.pid), clean(p.user), clean(p.name),
                     "n/a" if p.gpu_memory is None else human_bytes(p.gpu_memory),
                     "this process" if p.is_self else "") for p in procs]  # fmt: skip
            parts.append("\n" + _table(prow, ("GPU", "PID", "USER", "PROCESS", "GPU MEMORY", ""),
                                       right=(1, 4)))  # fmt: skip
        else:
            parts.append("\nNo processes are using the GPUs.\n")
        parts.append("\n")
    h = host_line(snap)
    parts.append(h + "\n")
    return "".join(parts)


def host_line(snap: Snapshot) -> str:
    from genai_tui.engine.core.text import human_bytes

    h = snap.host
    cores = "  ".join(f"{i}:{p:.0f}%" for i, p in enumerate(h.cpu_percent))
    swap = f"{human_bytes(h.swap_used)}/{human_bytes(h.swap_total)}" if h.swap_total else "none"
    return (
        f"HOST  CPU {h.cpu_avg:.0f}% of {len(h.cpu_percent)} cores ({cores})\n"
        f"      RAM {human_bytes(h.ram_used)}/{human_bytes(h.ram_total)} · swap {swap}"
    )
