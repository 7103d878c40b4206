"""The store's other tables: download jobs, gallery images, and usage sums over the
replies. Mixed into Store (core/store.py), whose connection and lock they use."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from genai_tui.engine.core.errors import StoreError
from genai_tui.engine.core.store_schema import Database, DownloadRecord

_USAGE_COLUMNS = """
    COUNT(*) AS replies,
    COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens,
    COALESCE(SUM(completion_tokens), 0) AS completion_tokens,
    SUM(cost) AS cost,
    AVG(tokens_per_s) AS mean_tps,
    AVG(ttft_s) AS mean_ttft_s
"""
_DAY = "date(created_at, 'unixepoch', 'localtime')"
_USAGE_GROUPS = {
    "": ("", ""),
    "model": ("provider, model,", " GROUP BY provider, model"
              " ORDER BY completion_tokens + prompt_tokens DESC, model"),
    "day": (f"{_DAY} AS day,", " GROUP BY day ORDER BY day"),
}  # fmt: skip


class MediaTables(Database):
    """Downloads, images and usage."""

    def _update(self, table: str, row_id: int, allowed: set[str], changes: dict[str, Any],
                json_fields: tuple[str, ...] = ()) -> None:  # fmt: skip
        """UPDATE one row's `changes` (names checked against `allowed`) and its updated_at."""
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        values = {k: json.dumps(v) if k in json_fields else v for k, v in changes.items()}
        if values:
            cols = ", ".join(f"{k} = ?" for k in values)
            with self._tx() as db:
                db.execute(f"UPDATE {table} SET {cols}, updated_at = ? WHERE id = ?",
                           (*values.values(), time.time(), row_id))  # fmt: skip

    # -- download jobs --------------------------------------------------------

    _DOWNLOAD_FIELDS = ("commit_hash", "files", "state", "done_bytes", "total_bytes", "error")

    @staticmethod
    def _download(row: sqlite3.Row) -> DownloadRecord:
        data = dict(row)
        data["files"] = json.loads(data["files"] or "[]")
        return DownloadRecord(**data)

    def add_download(
        self,
        repo_id: str,
        revision: str,
        files: list[dict[str, Any]],
        local_dir: str | None = None,
        *,
        total_bytes: int = 0,
        state: str = "queued",
        error: str = "",
    ) -> DownloadRecord:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO downloads(repo_id, revision, files, local_dir, state, total_bytes,"
                " error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (repo_id, revision, json.dumps(files), local_dir, state, total_bytes, error, now,
                 now),
            )  # fmt: skip
            job_id = int(cur.lastrowid or 0)
        return self.download(job_id)

    def download(self, job_id: int) -> DownloadRecord:
        rows = self._query("SELECT * FROM downloads WHERE id = ?", (job_id,))
        if not rows:
            raise StoreError(f"Download {job_id} does not exist.", "Pick one from the list.")
        return self._download(rows[0])

    def downloads(self, states: tuple[str, ...] | None = None) -> list[DownloadRecord]:
        """Oldest first; only jobs in `states` when given."""
        sql, args = "SELECT * FROM downloads", tuple(states or ())
        if states:
            sql += f" WHERE state IN ({', '.join('?' * len(states))})"
        return [self._download(r) for r in self._query(sql + " ORDER BY id", args)]

    def update_download(self, job_id: int, **changes: Any) -> None:
        self._update("downloads", job_id, set(self._DOWNLOAD_FIELDS), changes, ("files",))

    def delete_download(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM downloads WHERE id = ?", (job_id,))

    # -- gallery images -------------------------------------------------------------

    def add_image(self, row: dict[str, Any]) -> int:
        """Record one saved image (the columns of `images`); returns its id."""
        with self._tx() as db:
            cur = db.execute(
                f"INSERT INTO images({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()),
            )
            return int(cur.lastrowid or 0)

    def image_row(self, image_id: int) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM images WHERE id = ?", (image_id,))
        return dict(rows[0]) if rows else None

    def image_rows(self, search: str = "", limit: int = 500) -> Iterator[dict[str, Any]]:
        """Newest first; `search` matches the prompt or the model."""
        sql, args = "SELECT * FROM images", []
        if search:
            sql += " WHERE prompt LIKE ? OR model LIKE ?"
            args += [f"%{search}%"] * 2
        sql += " ORDER BY created_at DESC, id DESC LIMIT ?"
        return (dict(r) for r in self._query(sql, (*args, limit)))

    def image_count(self) -> int:
        return int(self._query("SELECT count(*) FROM images")[0][0])

    def delete_image(self, image_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM images WHERE id = ?", (image_id,))

    # -- usage --------------------------------------------------------------------

    def usage_rows(self, by: str = "", since: float = 0.0) -> list[dict[str, Any]]:
        """Sums over the assistant replies since `since` (epoch seconds): all of them
        (by=""), per provider and model (most tokens first), or per local day."""
        select, group = _USAGE_GROUPS[by]
        sql = (f"SELECT {select} {_USAGE_COLUMNS} FROM messages"
               f" WHERE role = 'assistant' AND created_at >= ?{group}")  # fmt: skip
        return [dict(r) for r in self._query(sql, (since,))]
