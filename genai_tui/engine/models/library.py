"""The model library: Hub search and details, the download queue, models on disk.

One async facade over hub.py, downloads.py and inventory.py for the Models
screen and the CLI. Blocking calls (network, disk scans) run in threads.
"""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from genai_tui.engine.models import hub_files as fits
from genai_tui.engine.models.download_events import Listener, Listeners
from genai_tui.engine.models.download_jobs import ACTIVE
from genai_tui.engine.models.hub import HubClient
from genai_tui.engine.models.hub_files import FitEstimate, ModelDetail, QuantGroup, SearchPage
from genai_tui.engine.models.inventory import InventoryEntry, delete_entry, scan_for

if TYPE_CHECKING:
    from genai_tui.config import Settings
    from genai_tui.engine.core.store import Store
    from genai_tui.engine.models.downloads import DownloadQueue


class ModelLibrary:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._downloads: DownloadQueue | None = None
        self._download_listeners = Listeners()

    @property
    def endpoint(self) -> str | None:
        """HF_ENDPOINT if set (a mirror, or a test server), else huggingface_hub's default."""
        return os.environ.get("HF_ENDPOINT") or None

    @cached_property
    def hub(self) -> HubClient:
        return HubClient(endpoint=self.endpoint, token=self.settings.hf_token)

    # -- Hub ------------------------------------------------------------------

    async def search(
        self,
        query: str = "",
        kind: Literal["gguf", "diffusers", "all"] = "all",
        sort: Literal["downloads", "likes", "trending", "updated"] = "downloads",
        author: str | None = None,
        page: int = 0,
        page_size: int = 20,
    ) -> SearchPage:
        return await asyncio.to_thread(
            self.hub.search, query, kind, sort, author, page, page_size
        )

    async def detail(
        self, repo_id: str, revision: str = "main", *, card: bool = True
    ) -> ModelDetail:
        return await asyncio.to_thread(
            functools.partial(self.hub.detail, repo_id, revision, card=card)
        )

    async def fit_gguf(self, detail: ModelDetail, group: QuantGroup) -> FitEstimate:
        """Weights plus KV cache at the configured context, against free VRAM or RAM."""

        def estimate() -> FitEstimate:
            header = None
            first = group.files[0].path if group.files else None
            if first:
                revision = detail.sha or "main"
                header = self.hub.read_gguf_header(detail.model.repo_id, first, revision)
            context = self.settings.generation.context_length
            if not context and header is not None:
                context = header.context_length or 4096
            need = fits.estimate_gguf_need(group, header, context)
            return fits.fit(need, vram_free=fits.free_vram(), ram_free=fits.free_ram())

        return await asyncio.to_thread(estimate)

    async def fit_diffusers(self, detail: ModelDetail, variant: str) -> FitEstimate:
        layout = detail.diffusers
        assert layout is not None

        def estimate() -> FitEstimate:
            size = layout.fetch_size(variant)
            need = fits.estimate_diffusers_need(size, "fp16", layout.file_dtype(variant))
            return fits.fit(need, vram_free=fits.free_vram(), ram_free=fits.free_ram())

        return await asyncio.to_thread(estimate)

    # -- downloads ------------------------------------------------------------

    @property
    def queue(self) -> DownloadQueue | None:
        """The download queue if it has been started, else None."""
        return self._downloads

    def subscribe_downloads(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(event)` on the event loop for every event of the download queue,
        the one running now or the one started later; returns `unsubscribe`.

        Subscribing starts nothing: the queue (and httpx) still load on first use.
        See DownloadQueue.subscribe for the events and how often they come.
        """
        return self._download_listeners.add(listener)

    async def downloads(self) -> DownloadQueue:
        """The download queue, started on first use (persisted jobs resume)."""
        if self._downloads is None:
            from genai_tui.engine.models.downloads import DownloadQueue

            queue = DownloadQueue.from_settings(self.store, self.settings, endpoint=self.endpoint)
            queue.subscribe(self._download_listeners.emit)
            await queue.start()
            self._downloads = queue
        return self._downloads

    async def resume_downloads(self) -> bool:
        """Start the queue if the last run left jobs unfinished (they go on); True if so."""
        if self._downloads is None and not await asyncio.to_thread(self.store.downloads, ACTIVE):
            return False
        await self.downloads()
        return True

    async def download(self, detail: ModelDetail, files: Sequence[Any], *,
                       local_dir: Path | None = None) -> int:  # fmt: skip
        queue = await self.downloads()
        # "main", not the commit: the queue pins the commit itself and writes refs/main,
        # so transformers and hf_hub_download find the files offline.
        return queue.add(detail.model.repo_id, files, "main", local_dir=local_dir)

    # -- on disk ----------------------------------------------------------------

    def _scan(self) -> list[InventoryEntry]:
        return scan_for(self.settings)

    async def local_models(self) -> list[InventoryEntry]:
        return await asyncio.to_thread(self._scan)

    async def delete(self, entry: InventoryEntry, confirm_store: str | None = None) -> int:
        return await asyncio.to_thread(delete_entry, entry, confirm_store=confirm_store)

    async def aclose(self) -> None:
        if self._downloads is not None:
            await self._downloads.aclose()
            self._downloads = None
