"""Download speed and memory: `genai-tui pull` (our DownloadQueue) vs `hf download`.

One loopback Hub (tests/hub_server.FakeHub, in a server process of its own) serves a
repo of 3 files of random bytes totalling --size-mb (and a second one of --small-mb).
In one run, alternating (ours, hf, hf, ours, ...), each into a fresh temp HF cache:

  ours   `python -m genai_tui pull REPO` in a child process: the CLI's one-off
         DownloadQueue (HEAD; the files at once over 8 connections, large ones in
         16 MiB Range pieces; sha256 of each file on its own thread; fsync; cache layout)
  hf     `hf download REPO --cache-dir TMP` (huggingface_hub's CLI, plain HTTP:
         HF_HUB_DISABLE_XET=1, HF_HUB_ENABLE_HF_TRANSFER=0)

Both are timed end to end as processes (start-up, metadata calls, transfer, exit);
the medians of --repeats give MB/s (MB = 10^6 bytes) and the ratio ours/hf (target
>= 1.05). The same command run again on the filled cache (nothing to transfer) gives
each tool's fixed cost, so `transfer MB/s` = size / (full - no-op) is also shown.
Peak RSS is each child's ru_maxrss (os.wait4), for ours at both sizes: streaming to
disk, it must not grow with the file size.

    .venv/bin/python bench/download.py [--size-mb 256] [--small-mb 64] [--repeats 5] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hub_server import FakeHub  # noqa: E402  (tests/hub_server.py, by path)

MB = 1_000_000
NFILES = 3
TARGET_RATIO = 1.05
HF = Path(sys.executable).with_name("hf")


@dataclass
class Run:
    wall_s: float
    rss_mb: float
    noop_s: float | None = None


def build_repo(hub: FakeHub, repo_id: str, size_mb: float, seed: int) -> None:
    """NFILES safetensors shards of random bytes (+ a config), `size_mb` in all."""
    total = int(size_mb * MB)
    sizes = [total // NFILES] * NFILES
    sizes[-1] += total - sum(sizes)
    rng = random.Random(seed)
    piece = 64 * MB  # randbytes takes at most 2**31 bits at a time

    def randbytes(n: int) -> bytes:
        return b"".join(rng.randbytes(min(piece, n - at)) for at in range(0, n, piece))

    files = {
        f"model-{i + 1:05d}-of-{NFILES:05d}.safetensors": randbytes(n) for i, n in enumerate(sizes)
    }
    files["config.json"] = b'{"architectures": ["LlamaForCausalLM"]}\n'
    hub.add_repo(repo_id, files, library="transformers")


def serve(sizes: list[str]) -> int:
    """The server process: build the repos, print what it serves, run until stdin closes.

    The Hub runs in its own process so that the bench's own memory (the repos' bytes)
    is not inherited by the children it times: their ru_maxrss counts the forked image.
    """
    with FakeHub() as hub:
        for i, size in enumerate(sizes):
            build_repo(hub, f"bench/repo-{i}", float(size), i + 1)
        repos = {
            rid: {"sha": r.sha, "files": {n: [f.size, f.sha256] for n, f in r.files.items()}}
            for rid, r in hub.repos.items()
        }
        print(json.dumps({"url": hub.url, "repos": repos}), flush=True)
        sys.stdin.read()
    return 0


@dataclass
class Server:
    url: str
    repos: dict[str, Any]
    proc: subprocess.Popen[str]

    @classmethod
    def start(cls, sizes: list[float]) -> Server:
        proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", *map(str, sizes)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise SystemExit("the bench Hub server did not start")
        info = json.loads(line)
        return cls(info["url"], info["repos"], proc)

    def size(self, repo_id: str) -> int:
        return sum(size for size, _ in self.repos[repo_id]["files"].values())

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def child_env(url: str, cache: Path, tmp: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("GENAI_TUI_", "HF_", "HUGGING_FACE_")) and k != "HOME"
    }  # fmt: skip
    env.update(
        HOME=str(tmp / "home"),
        HF_ENDPOINT=url,
        HF_HUB_CACHE=str(cache),
        HF_HUB_DISABLE_XET="1",
        HF_HUB_ENABLE_HF_TRANSFER="0",
        HF_HUB_DISABLE_TELEMETRY="1",
        GENAI_TUI_CONFIG=str(tmp / "missing.toml"),
    )
    return env


def command(tool: str, repo_id: str, cache: Path, tmp: Path) -> list[str]:
    if tool == "ours":
        return [sys.executable, "-m", "genai_tui", "--data-dir", str(tmp / "data"), "pull", repo_id]
    return [str(HF), "download", repo_id, "--cache-dir", str(cache)]


def run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall time, peak RSS (MB) and stdout of one child process."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.read().decode()}")
    return wall, usage.ru_maxrss * 1024 / MB, out.read().decode()


def check(hub: Server, repo_id: str, cache: Path, hashes: bool) -> None:
    """The cache holds every file of the repo, whole (and, when `hashes`, byte-exact)."""
    repo = hub.repos[repo_id]
    snapshot = cache / f"models--{repo_id.replace('/', '--')}" / "snapshots" / repo["sha"]
    for name, (size, sha256) in repo["files"].items():
        path = snapshot / name
        if not path.is_file() or path.stat().st_size != size:
            raise SystemExit(f"{path} is missing or has the wrong size")
        if hashes:
            h = hashlib.sha256()
            with path.open("rb") as fh:
                while chunk := fh.read(8 * MB):
                    h.update(chunk)
            if h.hexdigest() != sha256:
                raise SystemExit(f"{path} does not hold the served bytes")


def measure(tool: str, hub: Server, repo_id: str, work: Path, first: bool) -> Run:
    tmp = Path(tempfile.mkdtemp(prefix=f"{tool}-", dir=work))
    cache = tmp / "hf-cache"
    env = child_env(hub.url, cache, tmp)
    cmd = command(tool, repo_id, cache, tmp)
    try:
        wall, rss, _ = run_child(cmd, env)
        check(hub, repo_id, cache, hashes=first)
        noop, _, _ = run_child(cmd, env)  # everything is in place: the fixed cost
        return Run(wall, rss, noop)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=float, default=256, help="repo size (default 256)")
    parser.add_argument("--small-mb", type=float, default=64,
                        help="the smaller repo, for peak RSS (default 64)")  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5, help="runs of each (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--serve", nargs="+", metavar="MB", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args.serve)
    if not HF.exists():
        raise SystemExit(f"{HF} not found: install huggingface_hub in this environment")
    log = (lambda *a: print(*a, file=sys.stderr)) if args.json else print

    work = Path(tempfile.mkdtemp(prefix="genai-bench-download-"))
    log(f"building the repos ({args.size_mb:g} MB and {args.small_mb:g} MB)...")
    hub = Server.start([args.size_mb, args.small_mb])
    big_repo, small_repo = "bench/repo-0", "bench/repo-1"
    big, small = hub.size(big_repo), hub.size(small_repo)
    try:
        # warm-up: imports into the OS file cache, the disk's first writes
        for tool in ("ours", "hf"):
            measure(tool, hub, small_repo, work, first=False)
        runs: dict[str, list[Run]] = {"ours": [], "hf": []}
        for i in range(args.repeats):
            order = ("ours", "hf") if i % 2 == 0 else ("hf", "ours")
            for tool in order:
                runs[tool].append(measure(tool, hub, big_repo, work, first=i < 2))
                r = runs[tool][-1]
                log(f"  {tool:<4} {big / MB:.0f} MB: {r.wall_s:.2f} s (no-op {r.noop_s:.2f} s), "
                    f"peak RSS {r.rss_mb:.0f} MB")  # fmt: skip
        small_runs = [
            measure("ours", hub, small_repo, work, first=False)
            for _ in range(max(1, args.repeats // 2 + 1))
        ]
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)

    def med(tool: str, attr: str) -> float:
        return statistics.median(getattr(r, attr) for r in runs[tool])

    result: dict[str, Any] = {
        "size_mb": round(big / MB, 1),
        "files": NFILES + 1,
        "repeats": args.repeats,
        "ours_s": round(med("ours", "wall_s"), 3),
        "hf_s": round(med("hf", "wall_s"), 3),
        "ours_mbps": round(big / MB / med("ours", "wall_s"), 1),
        "hf_mbps": round(big / MB / med("hf", "wall_s"), 1),
        "ours_noop_s": round(med("ours", "noop_s"), 3),
        "hf_noop_s": round(med("hf", "noop_s"), 3),
        "peak_rss_mb": round(max(r.rss_mb for r in runs["ours"]), 1),
        "peak_rss_small_mb": round(max(r.rss_mb for r in small_runs), 1),
        "small_mb": round(small / MB, 1),
        "hf_peak_rss_mb": round(max(r.rss_mb for r in runs["hf"]), 1),
    }
    result["ratio"] = round(result["ours_mbps"] / result["hf_mbps"], 3)
    for tool in ("ours", "hf"):
        transfer = result[f"{tool}_s"] - result[f"{tool}_noop_s"]
        result[f"{tool}_transfer_mbps"] = round(big / MB / transfer, 1) if transfer > 0 else None
    if args.json:
        print(json.dumps(result))
        return 0

    print(f"\n{NFILES} files + config, {result['size_mb']:g} MB, loopback Hub; "
          f"median of {args.repeats}, alternating")  # fmt: skip
    print(f"{'':16}{'wall s':>8}{'MB/s':>9}{'no-op s':>9}{'transfer MB/s':>15}{'peak RSS MB':>13}")
    for tool, label in (("ours", "genai-tui pull"), ("hf", "hf download")):
        tm = result[f"{tool}_transfer_mbps"]
        rss = result["peak_rss_mb"] if tool == "ours" else result["hf_peak_rss_mb"]
        print(f"{label:<16}{result[f'{tool}_s']:>8.2f}{result[f'{tool}_mbps']:>9.1f}"
              f"{result[f'{tool}_noop_s']:>9.2f}{tm if tm is not None else float('nan'):>15.1f}"
              f"{rss:>13.1f}")  # fmt: skip
    verdict = "ok" if result["ratio"] >= TARGET_RATIO else "below target"
    print(f"ratio ours/hf: {result['ratio']:.2f} (target >= {TARGET_RATIO}: {verdict})")
    print(f"peak RSS of genai-tui pull: {result['peak_rss_small_mb']:.1f} MB for "
          f"{result['small_mb']:g} MB of files, {result['peak_rss_mb']:.1f} MB for "
          f"{result['size_mb']:g} MB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
