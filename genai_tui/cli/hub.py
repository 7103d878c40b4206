"""Headless Hub commands: `search` and `pull` (the Models screen's Hub tab and downloads)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.cli.common import cell as _cell
from genai_tui.cli.common import fail as _fail
from genai_tui.cli.common import for_stream
from genai_tui.cli.common import table as _table
from genai_tui.engine.core.text import human_bytes, human_count

if TYPE_CHECKING:
    from genai_tui.config import Settings


@dataclass(frozen=True)
class PullSettings:
    """What `pull` reads of the settings, at their defaults (tests check they match
    config.Settings' defaults)."""

    hf_token: str | None = None
    download_concurrency: int = 2
    download_dir: Path | None = None


def default_pull_settings(args: argparse.Namespace) -> PullSettings | None:
    """PullSettings when nothing can change pull's settings (no config file, no
    GENAI_TUI_* variable but GENAI_TUI_CONFIG); None: build the real Settings."""
    if any(k.upper().startswith("GENAI_TUI_") and k.upper() != "GENAI_TUI_CONFIG"
           for k in os.environ):  # fmt: skip
        return None
    path = args.config or os.environ.get("GENAI_TUI_CONFIG")
    if path:
        config = Path(path).expanduser()
    else:
        from platformdirs import user_config_path

        config = user_config_path("genai-tui") / "config.toml"
    return None if config.exists() else PullSettings()


def _library(settings: Any) -> Any:
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.models.library import ModelLibrary

    # One-off commands keep no history: nothing is written to the TUI's database.
    return ModelLibrary(settings, Store(Path(":memory:")))


async def _search(args: argparse.Namespace, settings: Settings) -> int:
    library = _library(settings)
    try:
        page = await library.search(
            args.query, args.kind or "all", args.sort, args.author, args.page - 1, args.limit
        )
    finally:
        await library.aclose()
        library.store.close()
    if args.json:
        rows = [
            {
                "repo_id": m.repo_id,
                "author": m.author,
                "downloads": m.downloads,
                "likes": m.likes,
                "last_modified": m.last_modified.isoformat() if m.last_modified else None,
                "gated": m.gated,
                "license": m.license,
                "pipeline_tag": m.pipeline_tag,
                "library": m.library,
                "tags": list(m.tags),
            }
            for m in page.items
        ]
        print(json.dumps(rows, indent=2))
        _more(args, page.has_more)
        return 0
    if not page.items:
        print("No models found." if args.page == 1 else f"No models on page {args.page}.",
              file=sys.stderr)  # fmt: skip
        return 0
    rows = [
        (
            _cell(m.repo_id),
            human_count(m.downloads),
            human_count(m.likes),
            m.last_modified.strftime("%Y-%m-%d") if m.last_modified else "-",
            {False: "-", True: "yes"}.get(m.gated, _cell(str(m.gated))),  # type: ignore[arg-type]
            _cell(m.license or "-"),
        )
        for m in page.items
    ]
    print(_table(rows, ("REPO", "DOWNLOADS", "LIKES", "UPDATED", "GATED", "LICENSE"),
                 right=(1, 2)), end="")  # fmt: skip
    _more(args, page.has_more)
    return 0


def _more(args: argparse.Namespace, has_more: bool) -> None:
    if has_more:
        print(f"More results: --page {args.page + 1}", file=sys.stderr)


class _Choice(Exception):
    """`pull` cannot tell what to fetch: exit with `code` after printing `listing`."""

    def __init__(self, message: str, code: int = 2, listing: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.listing = listing


def _quant_listing(detail: Any) -> list[dict[str, Any]]:
    return [
        {"quant": g.quant, "size": g.size, "files": [f.path for f in g.files],
         "projector": g.projector.path if g.projector else None, "note": g.note}
        for g in detail.gguf
    ]  # fmt: skip


def _choose_files(args: argparse.Namespace, detail: Any) -> list[Any]:
    """The repo files `pull` fetches, from FILEs, --include, --quant and --variant."""
    from fnmatch import fnmatchcase

    repo = detail.model.repo_id
    by_path = {f.path: f for f in detail.files}
    chosen: dict[str, Any] = {}
    for name in args.files:
        if name not in by_path:
            raise _Choice(
                f"{name} is not a file of {repo} at {args.revision}; the repo lists "
                f"{len(by_path)} files (`genai-tui pull {repo} --include '*'` fetches all).",
                code=1,
            )
        chosen[name] = by_path[name]
    for pattern in args.include:
        full = pattern + "*" if pattern.endswith("/") else pattern
        hits = [f for f in detail.files if fnmatchcase(f.path, full)]
        if not hits:
            raise _Choice(f"no file of {repo} matches --include {pattern!r}.", code=1)
        chosen.update((f.path, f) for f in hits)
    if args.quant:
        want = args.quant.upper()
        group = next((g for g in detail.gguf if g.quant.upper() == want), None)
        if group is None:
            have = ", ".join(g.quant for g in detail.gguf) or "none: it holds no GGUF files"
            raise _Choice(f"{repo} has no {args.quant} quantization (it has {have}).",
                          listing=_quant_listing(detail) or None)  # fmt: skip
        chosen.update((f.path, f) for f in group.files)
    layout = detail.diffusers
    if args.variant is not None:
        if layout is None:
            raise _Choice(f"--variant is for diffusers repos; {repo} is not one.")
        if args.variant not in layout.variants:
            have = ", ".join(v or "(default)" for v in layout.variants) or "none"
            raise _Choice(f"{repo} has no {args.variant} variant (variants: {have}).")
    if chosen:
        if args.variant is not None:
            raise _Choice("--variant picks the files of a whole diffusers pipeline; "
                          "do not combine it with FILE, --include or --quant.")  # fmt: skip
        return list(chosen.values())
    if layout is not None:
        return layout.fetch_files(args.variant or "")
    if detail.gguf:
        example = next((g.quant for g in detail.gguf if g.quant == "Q4_K_M"), detail.gguf[0].quant)
        raise _Choice(
            f"{repo} holds {len(detail.gguf)} GGUF quantization"
            f"{'s' if len(detail.gguf) != 1 else ''}; pick one with --quant "
            f"(e.g. --quant {example}).",
            listing=_quant_listing(detail),
        )
    return list(detail.files)


def _print_quants(listing: list[dict[str, Any]], as_json: bool) -> None:

    if as_json:
        print(json.dumps(listing, indent=2))
        return
    def files(g: dict[str, Any]) -> str:
        own = [f for f in g["files"] if f != g.get("projector")]
        text = f"{len(own)} files" if len(own) > 1 else _cell(own[0])
        return text + (f" {_cell(g['note'])}" if g.get("note") else "")

    rows = [(_cell(g["quant"]), human_bytes(g["size"]), files(g)) for g in listing]
    print(_table(rows, ("QUANT", "SIZE", "FILES"), right=(1,)), end="")


async def _pull(args: argparse.Namespace, settings: Settings | PullSettings) -> int:
    from asyncio import CancelledError

    from genai_tui.engine.core.events import DownloadFailed, DownloadFinished, DownloadProgress
    from genai_tui.engine.models.downloads import DownloadQueue

    library = _library(settings)
    queue: DownloadQueue | None = None
    bar: _ProgressBar | None = None
    try:
        detail = await library.detail(args.repo, args.revision, card=False)
        try:
            files = _choose_files(args, detail)
        except _Choice as choice:
            if choice.listing:
                _print_quants(choice.listing, args.json)
            return _fail(choice.message, choice.code)
        if not files:
            return _fail(f"{args.repo} lists no files to download.")
        repo = detail.model.repo_id
        want = (args.quant or "").upper()
        group = next((g for g in detail.gguf if want and g.quant.upper() == want), None)
        if group is not None and group.note and not args.json:
            print(f"{_cell(group.quant)} {_cell(group.note)}", file=sys.stderr)
        # A one-off queue on an in-memory store: it neither takes over nor leaves jobs
        # in the TUI's queue. Re-running the command resumes from the partial files.
        queue = DownloadQueue.from_settings(library.store, settings, endpoint=library.endpoint)
        await queue.start(resume=False)
        bar = _ProgressBar(sys.stderr, repo, sum(f.size for f in files), len(files))
        failed: str | None = None
        async with queue.events() as events:
            job_id = queue.add(repo, files, args.revision, local_dir=args.local_dir)
            async for event in events:
                if event.job_id != job_id:
                    continue
                if isinstance(event, DownloadProgress):
                    bar.update(event)
                    if event.state in ("paused", "cancelled"):
                        break
                elif isinstance(event, DownloadFailed):
                    failed = event.message
                    break
                elif isinstance(event, DownloadFinished):
                    break
        job = queue.job(job_id)
        bar.close()
        if failed is not None or job.state != "done":
            return _fail(" ".join((failed or job.error or f"the download {job.state}").split()))
        if args.json:
            print(json.dumps({
                "repo_id": repo, "revision": args.revision, "commit": job.commit,
                "files": [str(p) for p in job.paths], "bytes": job.total,
                "local_dir": str(job.local_dir) if job.local_dir else None,
            }))  # fmt: skip
        else:
            for path in job.paths:
                print(for_stream(str(path), sys.stdout))
        return 0
    except (KeyboardInterrupt, CancelledError):
        if bar is not None:
            bar.close()
        if queue is not None:
            print("genai-tui: interrupted; the partial files are kept: run the same command "
                  "again to resume.", file=sys.stderr)  # fmt: skip
        raise
    finally:
        if queue is not None:
            await queue.aclose()
        await library.aclose()
        library.store.close()


class _ProgressBar:
    """Download progress on stderr: one self-rewriting line on a terminal, else a few
    plain lines (a file starting, every ~10 s, retries)."""

    PLAIN_EVERY_S = 10.0
    REDRAW_S = 0.1

    def __init__(self, stream: Any, repo: str, total: int, nfiles: int) -> None:
        import time

        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.repo = _cell(repo)
        self.clock = time.monotonic
        self.started = self.clock()
        self.last_draw = 0.0
        self.last_file = ""
        self.last_note = ""
        self.drawn = False
        self.total = total
        self.done = 0
        enc = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        self.blocks = ("\u2588", "\u2591") if enc == "utf8" else ("#", "-")
        self._say(f"Downloading {self.repo}: {nfiles} file{'s' if nfiles != 1 else ''}, "
                  f"{human_bytes(total)}")  # fmt: skip

    def _say(self, line: str) -> None:
        if self.tty and self.drawn:
            self.stream.write("\r\x1b[K")
            self.drawn = False
        self.stream.write(line + "\n")
        self.stream.flush()

    def update(self, ev: Any) -> None:
        now = self.clock()
        self.total, self.done = ev.total or self.total, ev.done
        note = _cell(ev.note) if ev.note else ""
        new_file = ev.current_file and ev.current_file != self.last_file
        if new_file:
            self.last_file = ev.current_file
        if self.tty:
            if note and note != self.last_note:
                self._say(f"  {note}")
            self.last_note = note
            if now - self.last_draw >= self.REDRAW_S or new_file or ev.state != "running":
                self.last_draw = now
                self._draw(ev)
            return
        if new_file:
            self._say(f"  {_cell(ev.current_file)} ({human_bytes(ev.file_total)})")
        if note and note != self.last_note:
            self._say(f"  {note}")
        self.last_note = note
        if ev.state == "verifying":
            return
        if now - self.last_draw >= self.PLAIN_EVERY_S:
            self.last_draw = now
            self._say("  " + self._figures(ev))

    def _figures(self, ev: Any) -> str:
        pct = 100.0 * ev.done / ev.total if ev.total else 100.0
        speed = f"{human_bytes(ev.speed_bps)}/s" if ev.speed_bps else "-- MB/s"
        eta = _duration(ev.eta_s) if ev.eta_s is not None else "--:--"
        return f"{pct:3.0f}%  {human_bytes(ev.done)} / {human_bytes(ev.total)}  {speed}  ETA {eta}"

    def _draw(self, ev: Any) -> None:
        import shutil

        width = shutil.get_terminal_size((80, 24)).columns - 1
        figures = self._figures(ev)
        name = _cell(ev.current_file.rsplit("/", 1)[-1]) if ev.current_file else self.repo
        if ev.state == "verifying":
            figures += "  verifying"
        slots = max(0, min(30, width - len(figures) - len(name) - 6))
        full, empty = self.blocks
        if slots >= 8:
            filled = int(slots * ev.done / ev.total) if ev.total else slots
            bar = f"{full * filled}{empty * (slots - filled)} "
        else:
            bar = ""
        line = f"{bar}{figures}  {name}"
        self.stream.write("\r\x1b[K" + line[:width])
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.tty and self.drawn:
            self.stream.write("\r\x1b[K")
            self.drawn = False
        elapsed = self.clock() - self.started
        if self.total and self.done >= self.total:
            rate = f", {human_bytes(self.total / elapsed)}/s" if elapsed > 0 else ""
            self.stream.write(f"Done: {human_bytes(self.total)} in {elapsed:.1f} s{rate}\n")
        self.stream.flush()
        self.total = 0  # close() twice prints once


def _duration(seconds: float) -> str:
    s = int(seconds + 0.5)
    h, rest = divmod(s, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def run(args: argparse.Namespace, settings: Settings | PullSettings) -> int:
    """Run `search` or `pull` (`pull` may get PullSettings: see default_pull_settings)."""
    import asyncio

    if args.command == "search":
        assert not isinstance(settings, PullSettings)
        return asyncio.run(_search(args, settings))
    return asyncio.run(_pull(args, settings))
