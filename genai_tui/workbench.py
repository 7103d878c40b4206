"""What screens and widgets may use of the App, typed: the engine, the settings, the
app-wide signals, and the one place a failed worker is reported.

Screens and widgets reach the App through `workbench(node)` rather than `getattr`, so a
renamed signal is a type error, and a widget mounted in another App (a test harness)
simply gets None.

High-rate updates (GPU samples, download progress, residency news) follow one
pattern: the engine calls a listener on the event loop, coalesced at the source; the
App publishes it through a typed `Signal`; widgets subscribe. Nothing polls engine state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from textual.worker import Worker, WorkerState

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.signal import Signal

    from genai_tui.config import Settings
    from genai_tui.engine.engine import Engine


@runtime_checkable
class Workbench(Protocol):
    engine: Engine
    settings: Settings
    downloads_signal: Signal[Any]
    downloads_latest: list[Any]
    gpu_signal: Signal[Any]
    gpu_waiting_signal: Signal[tuple[str, ...]]
    gpu_models_signal: Signal[tuple[tuple[str, str], ...]]
    gpu_latest: Any
    gpu_models_latest: tuple[tuple[str, str], ...]

    def worker_failed(self, worker: Worker[Any]) -> None: ...


def workbench(node: DOMNode) -> Workbench | None:
    """The running genai-tui App, or None when `node` lives in some other App."""
    app = node.app
    return app if isinstance(app, Workbench) else None


class ReportsWorkerErrors:
    """Mixed into every screen that runs workers: a worker that ends in error is
    reported once, by the App (message, log file), and the screen gets `recover` to put
    itself back into a usable state."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is not WorkerState.ERROR:
            return
        bench = workbench(self)  # type: ignore[arg-type]  # mixed into a DOMNode
        if bench is not None:
            bench.worker_failed(event.worker)
        self.recover(event.worker)

    def recover(self, worker: Worker[Any]) -> None:
        """Undo what the failed worker left half-done (busy flags, a stuck status)."""

