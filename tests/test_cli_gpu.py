"""`genai-tui gpu`: one-shot table, --json, --watch; no driver means host only and exit 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fake_nvml import four_gpus, no_driver, one_gpu

from genai_tui.cli import main

TESTS = Path(__file__).parent


def test_table_with_one_gpu(monkeypatch, tmp_path, capsys) -> None:
    one_gpu().install(monkeypatch.setattr)
    assert main(["--data-dir", str(tmp_path), "gpu"]) == 0
    out, err = capsys.readouterr()
    assert "NVIDIA driver 550.54.15 · CUDA 12.4" in out
    gpu_row = next(line for line in out.splitlines() if line.startswith("0    NVIDIA"))
    assert "37%" in gpu_row and "2.0/80.0 GiB" in gpu_row and "54°C" in gpu_row
    assert "120/400 W" in gpu_row and "1410/1593 MHz" in gpu_row
    mine = next(line for line in out.splitlines() if str(os.getpid()) in line)
    assert mine.endswith("this process") and "1.6 GB" in mine
    assert "HOST  CPU" in out and "RAM" in out and err == ""


def test_json_with_four_gpus_and_unsupported_fields(monkeypatch, tmp_path, capsys) -> None:
    four_gpus().install(monkeypatch.setattr)
    assert main(["--data-dir", str(tmp_path), "gpu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["state"] == "ok" and [g["name"] for g in data["gpus"]][2] == "NVIDIA L4"
    t4 = data["gpus"][3]
    assert t4["fan_pct"] is None and t4["power_w"] is None and t4["util_gpu"] == 55
    assert len(data["processes"]) == 4 and sum(p["is_self"] for p in data["processes"]) == 2
    assert data["host"]["ram_total"] > 0 and len(data["host"]["cpu_percent"]) >= 1


def test_no_driver_host_only_exit_0_with_a_note(monkeypatch, tmp_path, capsys) -> None:
    no_driver().install(monkeypatch.setattr)
    assert main(["--data-dir", str(tmp_path), "gpu"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("HOST  CPU") and "NVIDIA" not in out
    assert "No NVIDIA driver found" in err and "Install the NVIDIA driver" in err
    assert main(["--data-dir", str(tmp_path), "gpu", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["state"] == "no_driver" and data["gpus"] == []


def test_bad_watch_interval_is_refused(tmp_path, capsys) -> None:
    try:
        main(["--data-dir", str(tmp_path), "gpu", "--watch", "0"])
    except SystemExit as exc:
        assert exc.code == 2
    assert "between 0.1 and 3600" in capsys.readouterr().err


def _watch(tmp_path: Path, *flags: str) -> tuple[int, str, str]:
    """Run `gpu --watch` with a fake GPU in a child; Ctrl+C after three refreshes."""
    code = (
        "import fake_nvml; fake_nvml.one_gpu().install()\n"
        "from genai_tui.cli import main\n"
        f"raise SystemExit(main(['--data-dir', {str(tmp_path)!r}, 'gpu', *{list(flags)!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    lines: list[str] = []
    deadline = time.monotonic() + 60
    marker = '"state"' if "--json" in flags else "Every 0.2s"
    assert proc.stdout is not None
    while sum(marker in line for line in lines) < 3 and time.monotonic() < deadline:
        lines.append(proc.stdout.readline())
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=30)
    return proc.returncode, "".join(lines) + rest, err


def test_watch_refreshes_until_ctrl_c(tmp_path) -> None:
    code, out, err = _watch(tmp_path, "--watch", "0.2")
    assert code == 130
    assert out.count("Every 0.2s: genai-tui gpu") >= 3
    assert out.count("NVIDIA Fake A100 80GB") >= 2 and err == ""  # the 3rd may be cut short


def test_watch_json_prints_one_object_per_line(tmp_path) -> None:
    code, out, _ = _watch(tmp_path, "--watch", "0.2", "--json")
    assert code == 130
    objects = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert len(objects) >= 3 and all(o["gpus"][0]["util_gpu"] == 37 for o in objects)
    assert objects[1]["time"] - objects[0]["time"] >= 0.15
