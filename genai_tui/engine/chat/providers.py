"""Remote providers: the live clients, their config (written back to the TOML file), discovery.

The config file is rewritten whole (genai_tui.config_write; comments in it are not
kept), always with 0600 permissions because it may hold API keys; only the providers
it held are written back, never those from the environment.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_tui.engine.chat.remote import RemoteChatModel, RemoteModel, RemoteProvider
from genai_tui.engine.core.errors import ConfigError, GenaiError, ProviderError

if TYPE_CHECKING:
    from genai_tui.config import ProviderSettings, Settings

# Default loopback ports of the servers people run beside a GPU.
KNOWN_PORTS: dict[int, str] = {
    11434: "Ollama",
    1234: "LM Studio",
    8000: "vLLM",
    8080: "llama.cpp server",
}


@dataclass(frozen=True)
class ProviderListing:
    """One provider's models, or why it could not list them."""

    provider: str
    models: list[RemoteModel] = field(default_factory=list)
    error: str = ""


@dataclass(frozen=True)
class DiscoveredServer:
    label: str  # "Ollama"
    base_url: str
    models: list[str]


class ProviderRegistry:
    """The configured providers' clients, kept so connection pools and breakers persist."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._clients: dict[str, RemoteProvider] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def names(self) -> list[str]:
        return [p.name for p in self.settings.providers]

    def config(self, name: str) -> ProviderSettings:
        for p in self.settings.providers:
            if p.name == name:
                return p
        raise ProviderError(
            f"No provider named '{name}' is configured.",
            "Add it in Settings (F7), or pick another model (ctrl+o).",
        )

    def get(self, name: str) -> RemoteProvider:
        config = self.config(name)
        client = self._clients.get(name)
        if client is None or client.settings is not config:
            client = RemoteProvider(config)
            old = self._clients.pop(name, None)
            if old is not None:  # the settings changed: close the old pool when we can
                with contextlib.suppress(RuntimeError):  # no running loop: GC closes it
                    task = asyncio.get_running_loop().create_task(old.aclose())
                    self._closing.add(task)
                    task.add_done_callback(self._closing.discard)
            self._clients[name] = client
        return client

    async def chat_model(self, provider: str, model: str) -> RemoteChatModel:
        client = self.get(provider)
        return RemoteChatModel(client, model, client.contexts.get(model))

    async def list_all(self, retries: int | None = None) -> list[ProviderListing]:
        """Every provider's models, in parallel; a failing one gives its error instead."""

        async def one(name: str) -> ProviderListing:
            try:
                return ProviderListing(name, await self.get(name).list_models(retries=retries))
            except GenaiError as exc:
                return ProviderListing(name, error=str(exc))

        return list(await asyncio.gather(*(one(n) for n in self.names())))

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


# -- the config file -------------------------------------------------------------------


def provider_table(p: ProviderSettings) -> dict[str, Any]:
    return p.model_dump(exclude_none=True, exclude_defaults=False, exclude={"headers"}) | (
        {"headers": dict(p.headers)} if p.headers else {}
    )


def write_providers(
    settings: Settings, edit: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
) -> Path:
    """Rewrite the config file's `providers` with `edit(the file's own provider tables)`;
    other keys are kept (through the one write path, genai_tui.config_write).

    Only what the file held is edited: providers that came from the environment or the
    command line (and their keys) never reach it. The file is replaced atomically, 0600;
    a symlinked config file (a dotfile repo) is written through to its target.
    """
    from genai_tui.config_write import edit_config

    def change(data: dict[str, Any]) -> None:
        tables = data.get("providers")
        own = [dict(t) for t in tables if isinstance(t, dict)] if isinstance(tables, list) else []
        data["providers"] = edit(own)

    return edit_config(settings, change)


def _put(tables: list[dict[str, Any]], table: dict[str, Any], replacing: str | None) -> None:
    """Put `table` where the one named `replacing` (or one of its own name) is, else last;
    drop any other table of either name."""
    names = {table["name"], replacing} - {None}
    at = next((i for i, t in enumerate(tables) if t.get("name") in names), len(tables))
    tables[:] = (
        [t for t in tables[:at] if t.get("name") not in names]
        + [table]
        + [t for t in tables[at:] if t.get("name") not in names]
    )


def save_provider(
    settings: Settings, provider: ProviderSettings, replacing: str | None = None
) -> Path:
    """Add `provider`, or replace the one named `replacing` (an edit may rename it)."""
    others = [p for p in settings.providers if replacing is None or p.name != replacing]
    if any(p.name == provider.name for p in others):
        raise ConfigError(
            f"A provider named '{provider.name}' already exists.", "Pick another name."
        )

    def edit(tables: list[dict[str, Any]]) -> list[dict[str, Any]]:
        _put(tables, provider_table(provider), replacing)
        return tables

    path = write_providers(settings, edit)
    if replacing:
        at = next((i for i, p in enumerate(settings.providers) if p.name == replacing), len(others))
        others.insert(at, provider)
    else:
        others.append(provider)
    settings.providers = others
    return path


def remove_provider(settings: Settings, name: str) -> Path:
    """Remove `name` from the file (and from these settings; one that came from the
    environment comes back with it on the next start)."""
    path = write_providers(settings, lambda tables: [t for t in tables if t.get("name") != name])
    settings.providers = [p for p in settings.providers if p.name != name]
    return path


# -- discovery -----------------------------------------------------------------------


async def discover(
    ports: dict[int, str] | None = None, host: str = "127.0.0.1", timeout_s: float = 1.0
) -> list[DiscoveredServer]:
    """Servers answering GET /v1/models on loopback ports (Ollama, LM Studio, vLLM, llama.cpp)."""
    import httpx

    ports = KNOWN_PORTS if ports is None else ports

    async def probe(client: httpx.AsyncClient, port: int, label: str) -> DiscoveredServer | None:
        base = f"http://{host}:{port}/v1"
        try:
            response = await client.get(f"{base}/models")
            data = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return None
        names = [str(m["id"]) for m in items if isinstance(m, dict) and "id" in m]
        return DiscoveredServer(label, base, names)

    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
        found = await asyncio.gather(*(probe(client, p, lbl) for p, lbl in ports.items()))
    return [f for f in found if f is not None]
