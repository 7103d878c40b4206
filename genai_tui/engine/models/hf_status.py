"""What the Hub's HTTP answers mean for a download: go on, retry later, or stop and say why.

408/429/5xx raise `Retry` (with the Retry-After the server asked for);
401/403/404 and other errors raise `DownloadError` with a message that says
which and what to do. The token never appears in a message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from genai_tui.engine.core.errors import GenaiError
from genai_tui.engine.core.text import printable

LOGIN = "Set HF_TOKEN (or hf_token in the settings) or run `hf auth login`."


class DownloadError(GenaiError):
    """A download cannot go on; the message says why and what to do."""


class Retry(Exception):
    """This attempt failed in a way worth trying again (after `retry_after` s, if given)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class FileRef:
    repo_id: str
    revision: str  # a branch, tag or commit: what goes in the URL
    path: str


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (it may be a number or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def describe(exc: Exception) -> str:
    """A transport error in a few words, for a retry note."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def hub_said(text: str, token: str | None, limit: int = 200) -> str:
    """The server's own words, safe to show: the token scrubbed from the whole text before
    it is shortened (a cut must not leave a token's first half), control characters made
    visible, on one line."""
    if token:
        text = text.replace(token, "***")
    text = printable(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_status(status: int, headers: Any, ref: FileRef, endpoint: str,
                 token: str | None) -> None:  # fmt: skip
    """Raise Retry for 408/429/5xx, DownloadError for other errors; 416 passes."""
    if status < 400 or status == 416:
        return
    if status in (408, 429) or status >= 500:
        raise Retry(f"HTTP {status}", parse_retry_after(headers.get("Retry-After")))
    said = hub_said(headers.get("X-Error-Message") or "", token)
    said = f' The Hub said: "{said}"' if said else ""
    code = headers.get("X-Error-Code") or ""
    repo = ref.repo_id
    page = f"{endpoint}/{repo}"
    if code == "GatedRepo" and status == 403:
        raise DownloadError(
            f"{repo} is gated: this token has not been granted access (403).{said}",
            f"Accept the license on the model page ({page}), then resume the download.",
        )
    if code == "GatedRepo":
        raise DownloadError(
            f"{repo} is gated: you must be logged in to download it (401).{said}",
            f"{LOGIN} Then accept the license on the model page ({page}) and resume.",
        )
    if status == 401 and code == "RepoNotFound":
        raise DownloadError(
            f"{repo} was not found on {endpoint}, or it is private (401).{said}",
            "Check the name (owner/model). If it is private, it needs a token with access: "
            + LOGIN,
        )
    if status == 401 and token:
        raise DownloadError(
            f"{endpoint} rejected the access token (401: invalid or expired) while "
            f"downloading {repo}.{said}",
            f"Create a new token and {LOGIN[0].lower()}{LOGIN[1:]}",
        )
    if status == 401:
        raise DownloadError(f"{repo} needs a Hugging Face access token (401).{said}", LOGIN)
    if status == 403:
        raise DownloadError(f"Access to {repo} was denied (403).{said}",
                            "Check that your token has read access to this repo.")  # fmt: skip
    if status == 404:
        rev = ref.revision
        what = {
            "RepoNotFound": f"The repo {repo} was not found",
            "RevisionNotFound": f"The revision {rev!r} of {repo} was not found",
        }.get(code, f"{ref.path} was not found in {repo} at {rev!r}")
        raise DownloadError(
            f"{what} (404 Not Found).{said}",
            "Check the name, or refresh the file list: it may have been renamed or removed.",
        )
    raise DownloadError(f"The Hub answered HTTP {status} for {ref.path} of {repo}.{said}",
                        "Retry later; if it persists, report it.")  # fmt: skip
