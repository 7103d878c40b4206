"""A provider's HTTP client follows redirects only within the provider's own origin.

httpx drops `Authorization` on a redirect to another origin, but not the
provider's extra headers (which may carry a key of another name), and on a
307/308 it sends the conversation again to wherever the server pointed. A
server that moved is told to the user, who decides whether to trust the new
address.
"""

from __future__ import annotations

import httpx

from genai_tui.engine.core.errors import ProviderError
from genai_tui.engine.core.text import printable


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port (the default port made explicit)."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


def same_origin_client(base_url: str, provider: str, timeout: httpx.Timeout) -> httpx.AsyncClient:
    """An AsyncClient whose requests (redirects included) stay on `base_url`'s origin."""
    home = origin(httpx.URL(base_url))

    async def stay_home(request: httpx.Request) -> None:
        if origin(request.url) != home:
            there = printable(f"{request.url.scheme}://{request.url.netloc.decode('ascii')}")
            raise ProviderError(
                f"{provider} redirected the request to another address ({there}); your key "
                "and conversation were not sent there.",
                "If that address is right, make it the provider's base URL in Settings (F7).",
            )

    return httpx.AsyncClient(
        timeout=timeout, follow_redirects=True, event_hooks={"request": [stay_home]}
    )
