"""The store's other tables: download jobs, gallery images, image jobs, and usage sums
over the replies. Mixed into Store (core/store.py), whose connection and lock they use."""

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

    # -- image jobs (engine/images/queue.py) ---------------------------------------------

    _IMAGE_JOB_FIELDS = ("state", "done_steps", "total_steps", "error", "images")

    def add_image_job(self, request: dict[str, Any], model: str, model_name: str,
                      source: str, total_steps: int) -> int:  # fmt: skip
        """A queued job, last in the run order; returns its id."""
        now = time.time()
        with self._tx() as db:
            last = db.execute("SELECT COALESCE(MAX(position), 0) FROM image_jobs").fetchone()[0]
            cur = db.execute(
                "INSERT INTO image_jobs(position, request, model, model_name, source, total_steps,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (int(last) + 1, json.dumps(request), model, model_name, source, total_steps,
                 now, now),
            )  # fmt: skip
            return int(cur.lastrowid or 0)

    def image_jobs(self, states: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """Jobs in run order (position), JSON decoded; only those in `states` when given."""
        sql, args = "SELECT * FROM image_jobs", tuple(states)
        if states:
            sql += f" WHERE state IN ({', '.join('?' * len(states))})"
        rows = [dict(r) for r in self._query(sql + " ORDER BY position, id", args)]
        for row in rows:
            row["request"], row["images"] = json.loads(row["request"]), json.loads(row["images"])
        return rows

    def update_image_job(self, job_id: int, **changes: Any) -> None:
        self._update("image_jobs", job_id, set(self._IMAGE_JOB_FIELDS), changes, ("images",))

    def move_image_jobs(self, states: tuple[str, ...], to: str, job_id: int | None = None) -> int:
        """Jobs (one, or all) in one of `states` go to state `to`, in one statement (a job
        cancelled meanwhile is not claimed); returns how many did."""
        sql = (f"UPDATE image_jobs SET state = ?, updated_at = ?"
               f" WHERE state IN ({', '.join('?' * len(states))})")  # fmt: skip
        args: tuple[Any, ...] = (to, time.time(), *states)
        if job_id is not None:
            sql, args = sql + " AND id = ?", (*args, job_id)
        with self._tx() as db:
            return int(db.execute(sql, args).rowcount)

    def swap_image_jobs(self, first: int, second: int) -> None:
        """Two jobs trade places in the run order."""
        with self._tx() as db:
            rows = db.execute("SELECT id, position FROM image_jobs WHERE id IN (?, ?)",
                              (first, second)).fetchall()  # fmt: skip
            if len(rows) == 2:
                (a, pa), (b, pb) = rows
                db.execute("UPDATE image_jobs SET position = ? WHERE id = ?", (pb, a))
                db.execute("UPDATE image_jobs SET position = ? WHERE id = ?", (pa, b))

    def delete_image_jobs(self, states: tuple[str, ...], job_id: int | None = None) -> int:
        """Jobs (one, or all) in one of `states` leave the table; returns how many did."""
        sql = f"DELETE FROM image_jobs WHERE state IN ({', '.join('?' * len(states))})"
        args: tuple[Any, ...] = states if job_id is None else (*states, job_id)
        with self._tx() as db:
            return int(db.execute(sql + (" AND id = ?" if job_id is not None else ""),
                                  args).rowcount)  # fmt: skip

    # -- studio settings per model (engine/images/studio_memory.py) --------------------

    def studio_settings(self, model: str) -> dict[str, Any]:
        """The values last remembered for `model` ({} when none, or unreadable)."""
        rows = self._query("SELECT json FROM studio_settings WHERE model = ?", (model,))
        try:
            values = json.loads(rows[0][0]) if rows else {}
        except json.JSONDecodeError:
            return {}
        return values if isinstance(values, dict) else {}

    def save_studio_settings(self, model: str, values: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO studio_settings(model, json, updated_at) VALUES (?, ?, ?)"
                       " ON CONFLICT(model) DO UPDATE SET json = excluded.json,"
                       " updated_at = excluded.updated_at",
                       (model, json.dumps(values), time.time()))  # fmt: skip

    # -- usage --------------------------------------------------------------------

    def usage_rows(self, by: str = "", since: float = 0.0) -> list[dict[str, Any]]:
        """Sums over the assistant replies since `since` (epoch seconds): all of them
        (by=""), per provider and model (most tokens first), or per local day."""
        select, group = _USAGE_GROUPS[by]
        sql = (f"SELECT {select} {_USAGE_COLUMNS} FROM messages"
               f" WHERE role = 'assistant' AND created_at >= ?{group}")  # fmt: skip
        return [dict(r) for r in self._query(sql, (since,))]
