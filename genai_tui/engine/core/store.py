"""SQLite store: conversations, messages, system prompts, projects and download jobs.

WAL mode, one transaction per write: a process killed mid-reply loses at most
the reply in flight (it is saved only when complete or stopped), never an
earlier message. The schema is versioned (PRAGMA user_version) and migrated
forward on open.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_tui.engine.core.errors import StoreError

# Each entry moves the schema from version i to i + 1. Never edit a shipped
# entry: append a new one.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at REAL NOT NULL
    );
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        system_prompt TEXT NOT NULL DEFAULT '',
        params TEXT NOT NULL DEFAULT '{}',
        project_id INTEGER REFERENCES projects(id) ON DELETE SET NULL,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX conversations_updated ON conversations(updated_at DESC);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        content TEXT NOT NULL,
        thinking TEXT NOT NULL DEFAULT '',
        model TEXT NOT NULL DEFAULT '',
        prompt_tokens INTEGER,
        completion_tokens INTEGER,
        ttft_s REAL,
        tokens_per_s REAL,
        duration_s REAL,
        finish_reason TEXT,
        stopped INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_conversation ON messages(conversation_id, id);
    CREATE TABLE system_prompts (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        content TEXT NOT NULL,
        created_at REAL NOT NULL
    );
    """,
    # 2: the download queue (engine/downloads.py). `files` is a JSON list of
    # {"path", "size", "sha256", "etag"}; `commit_hash` pins the revision once the
    # first file was resolved, so a resumed job never mixes two commits.
    """
    CREATE TABLE downloads (
        id INTEGER PRIMARY KEY,
        repo_id TEXT NOT NULL,
        revision TEXT NOT NULL DEFAULT 'main',
        commit_hash TEXT,
        files TEXT NOT NULL DEFAULT '[]',
        local_dir TEXT,
        state TEXT NOT NULL DEFAULT 'queued',
        done_bytes INTEGER NOT NULL DEFAULT 0,
        total_bytes INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX downloads_state ON downloads(state);
    """,
    # 3: the image gallery (engine/gallery.py): one row per saved image; `params`
    # is the JSON of the request that made it (prompt, seed, steps, ...).
    """
    CREATE TABLE images (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        model TEXT NOT NULL DEFAULT '',
        prompt TEXT NOT NULL DEFAULT '',
        negative_prompt TEXT NOT NULL DEFAULT '',
        seed INTEGER,
        width INTEGER,
        height INTEGER,
        steps INTEGER,
        guidance REAL,
        scheduler TEXT NOT NULL DEFAULT '',
        strength REAL,
        init_image TEXT,
        params TEXT NOT NULL DEFAULT '{}',
        duration_s REAL,
        created_at REAL NOT NULL
    );
    CREATE INDEX images_created ON images(created_at DESC);
    """,
    # 4: remote providers and usage (engine/llm_remote.py, engine/usage.py): which
    # provider served a conversation and each reply, and what a reply cost.
    """
    ALTER TABLE conversations ADD COLUMN provider TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN provider TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN cost REAL;
    CREATE INDEX messages_usage ON messages(created_at) WHERE role = 'assistant';
    """,
]


@dataclass
class Conversation:
    id: int
    title: str
    model: str
    system_prompt: str
    params: dict[str, Any]
    project: str | None
    created_at: float
    updated_at: float
    provider: str = ""
    """The remote provider's name; "" for a local model."""


@dataclass
class Message:
    id: int
    conversation_id: int
    role: str
    content: str
    thinking: str = ""
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_s: float | None = None
    tokens_per_s: float | None = None
    duration_s: float | None = None
    finish_reason: str | None = None
    stopped: bool = False
    created_at: float = field(default_factory=time.time)
    provider: str = ""
    cost: float | None = None


@dataclass
class SystemPrompt:
    id: int
    name: str
    content: str


@dataclass
class DownloadRecord:
    """One persisted download job (see engine/downloads.py for the states)."""

    id: int
    repo_id: str
    revision: str
    commit_hash: str | None
    files: list[dict[str, Any]]
    local_dir: str | None
    state: str
    done_bytes: int
    total_bytes: int
    error: str
    created_at: float
    updated_at: float


class Store:
    """One SQLite database. Calls are short and serialized by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._lock = threading.RLock()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"Cannot open the conversation database {self.path}: {exc}.",
                "If the file is damaged, move it aside; a new one is created on the next start.",
            ) from exc

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} was written by a newer genai-tui (schema {version}).",
                "Upgrade genai-tui, or point data_dir at another folder.",
            )
        for number in range(version, len(MIGRATIONS)):
            script = f"BEGIN IMMEDIATE; {MIGRATIONS[number]}; PRAGMA user_version = {number + 1}; COMMIT;"
            with self._lock:
                try:
                    self._db.executescript(script)
                except sqlite3.DatabaseError:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- projects -----------------------------------------------------------

    def project_id(self, name: str) -> int:
        """The id of project `name`, created if new."""
        with self._tx() as db:
            row = db.execute("SELECT id FROM projects WHERE name = ?", (name,)).fetchone()
            if row:
                return int(row[0])
            cur = db.execute(
                "INSERT INTO projects(name, created_at) VALUES (?, ?)", (name, time.time())
            )
            return int(cur.lastrowid or 0)

    def projects(self) -> list[str]:
        return [r[0] for r in self._query("SELECT name FROM projects ORDER BY name")]

    # -- conversations ------------------------------------------------------

    _CONV_SELECT = """
        SELECT c.*, p.name AS project FROM conversations c
        LEFT JOIN projects p ON p.id = c.project_id
    """

    @staticmethod
    def _conversation(row: sqlite3.Row) -> Conversation:
        return Conversation(
            id=row["id"],
            title=row["title"],
            model=row["model"],
            system_prompt=row["system_prompt"],
            params=json.loads(row["params"] or "{}"),
            project=row["project"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            provider=row["provider"],
        )

    def create_conversation(
        self,
        title: str = "New chat",
        model: str = "",
        system_prompt: str = "",
        params: dict[str, Any] | None = None,
    ) -> Conversation:
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO conversations(title, model, system_prompt, params, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (title, model, system_prompt, json.dumps(params or {}), now, now),
            )
            conv_id = int(cur.lastrowid or 0)
        return self.conversation(conv_id)

    def conversation(self, conv_id: int) -> Conversation:
        rows = self._query(self._CONV_SELECT + " WHERE c.id = ?", (conv_id,))
        if not rows:
            raise StoreError(f"Conversation {conv_id} does not exist.", "Pick one from the list.")
        return self._conversation(rows[0])

    def conversations(self, search: str = "", project: str | None = None) -> list[Conversation]:
        """Newest first. `search` matches titles and message text."""
        sql = self._CONV_SELECT + " WHERE 1=1"
        args: list[Any] = []
        if search:
            # The user's text is matched literally: % and _ are not wildcards.
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like = f"%{escaped}%"
            sql += (
                " AND (c.title LIKE ? ESCAPE '\\' OR EXISTS (SELECT 1 FROM messages m"
                " WHERE m.conversation_id = c.id AND m.content LIKE ? ESCAPE '\\'))"
            )
            args += [like, like]
        if project is not None:
            sql += " AND p.name = ?"
            args.append(project)
        sql += " ORDER BY c.updated_at DESC, c.id DESC"
        return [self._conversation(r) for r in self._query(sql, tuple(args))]

    def update_conversation(self, conv_id: int, **changes: Any) -> Conversation:
        allowed = {"title", "model", "system_prompt", "params", "project", "provider"}
        unknown = set(changes) - allowed
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if "project" in changes:
            name = changes.pop("project")
            changes["project_id"] = self.project_id(name) if name else None
        if "params" in changes:
            changes["params"] = json.dumps(changes["params"])
        if changes:
            cols = ", ".join(f"{k} = ?" for k in changes)
            with self._tx() as db:
                db.execute(
                    f"UPDATE conversations SET {cols}, updated_at = ? WHERE id = ?",
                    (*changes.values(), time.time(), conv_id),
                )
        return self.conversation(conv_id)

    def delete_conversation(self, conv_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))

    # -- messages -----------------------------------------------------------

    def add_message(self, conv_id: int, role: str, content: str, **fields: Any) -> Message:
        now = time.time()
        columns = ["conversation_id", "role", "content", "created_at", *fields]
        values = [conv_id, role, content, now, *fields.values()]
        with self._tx() as db:
            cur = db.execute(
                f"INSERT INTO messages({', '.join(columns)})"
                f" VALUES ({', '.join('?' * len(values))})",
                values,
            )
            db.execute("UPDATE conversations SET updated_at = ? WHERE id = ?", (now, conv_id))
            msg_id = int(cur.lastrowid or 0)
        return self.message(msg_id)

    def message(self, msg_id: int) -> Message:
        rows = self._query("SELECT * FROM messages WHERE id = ?", (msg_id,))
        if not rows:
            raise StoreError(f"Message {msg_id} does not exist.")
        return self._message(rows[0])

    @staticmethod
    def _message(row: sqlite3.Row) -> Message:
        data = dict(row)
        data["stopped"] = bool(data["stopped"])
        return Message(**data)

    def messages(self, conv_id: int) -> list[Message]:
        rows = self._query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conv_id,)
        )
        return [self._message(r) for r in rows]

    def update_message(self, msg_id: int, content: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE messages SET content = ? WHERE id = ?", (content, msg_id))

    def delete_messages_from(self, conv_id: int, msg_id: int) -> int:
        """Delete message `msg_id` and every later one in the conversation."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM messages WHERE conversation_id = ? AND id >= ?", (conv_id, msg_id)
            )
            return cur.rowcount

    # -- system prompt library ---------------------------------------------

    def save_system_prompt(self, name: str, content: str) -> SystemPrompt:
        with self._tx() as db:
            db.execute(
                "INSERT INTO system_prompts(name, content, created_at) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET content = excluded.content",
                (name, content, time.time()),
            )
        row = self._query("SELECT * FROM system_prompts WHERE name = ?", (name,))[0]
        return SystemPrompt(row["id"], row["name"], row["content"])

    def system_prompts(self) -> list[SystemPrompt]:
        rows = self._query("SELECT * FROM system_prompts ORDER BY name")
        return [SystemPrompt(r["id"], r["name"], r["content"]) for r in rows]

    def delete_system_prompt(self, name: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM system_prompts WHERE name = ?", (name,))

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
        sql, args = "SELECT * FROM downloads", ()
        if states:
            sql += f" WHERE state IN ({', '.join('?' * len(states))})"
            args = tuple(states)
        return [self._download(r) for r in self._query(sql + " ORDER BY id", args)]

    def update_download(self, job_id: int, **changes: Any) -> None:
        unknown = set(changes) - set(self._DOWNLOAD_FIELDS)
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)}")
        if "files" in changes:
            changes["files"] = json.dumps(changes["files"])
        if changes:
            cols = ", ".join(f"{k} = ?" for k in changes)
            with self._tx() as db:
                db.execute(
                    f"UPDATE downloads SET {cols}, updated_at = ? WHERE id = ?",
                    (*changes.values(), time.time(), job_id),
                )

    def delete_download(self, job_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM downloads WHERE id = ?", (job_id,))
