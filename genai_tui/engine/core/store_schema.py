"""The database: its schema (versioned migrations), the connection, and the rows the
store hands out.

Each migration moves the schema one version up (PRAGMA user_version). They run in
one exclusive transaction that also reads the version, so two instances starting on
one data dir at once do not both migrate: the second waits, then sees it done.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_tui.engine.core.errors import StoreError
from genai_tui.engine.core.files import create_private, private_dir

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
    # 5: pictures in the chat (engine/create): `kind` is "" for a text message, "images"
    # for an /imagine result, "story" for a story page; `meta` is its JSON (prompt,
    # mode, the gallery images with their seeds; a story's title and scenes).
    """
    ALTER TABLE messages ADD COLUMN kind TEXT NOT NULL DEFAULT '';
    ALTER TABLE messages ADD COLUMN meta TEXT NOT NULL DEFAULT '{}';
    """,
    # 6: named sampling presets (engine/chat/chat_sampling.py): `params` is the JSON of the
    # sampling keys the preset sets; `builtin` ones are seeded here and cannot be
    # deleted or overwritten.
    """
    CREATE TABLE sampling_presets (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        params TEXT NOT NULL DEFAULT '{}',
        builtin INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    INSERT INTO sampling_presets(name, params, builtin, created_at, updated_at) VALUES
        ('precise', '{"temperature": 0.2, "top_p": 0.9, "min_p": 0.05}', 1, 0, 0),
        ('creative', '{"temperature": 1.1, "top_p": 0.98, "min_p": 0.02}', 1, 0, 0),
        ('deterministic', '{"temperature": 0.0, "seed": 0}', 1, 0, 0),
        ('json', '{"temperature": 0.2, "json_mode": true}', 1, 0, 0);
    """,
    # 7: branches (engine/core/message_tree.py): a message answers its `parent_id` (NULL:
    # the first); an edit or a regenerate adds a sibling. `chosen` orders siblings by
    # when each was last shown (the highest is on the active path). An existing chat
    # becomes one path: each message answers the one before it.
    """
    ALTER TABLE messages ADD COLUMN parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE;
    ALTER TABLE messages ADD COLUMN chosen INTEGER NOT NULL DEFAULT 0;
    UPDATE messages SET chosen = id, parent_id = (SELECT MAX(p.id) FROM messages p
        WHERE p.conversation_id = messages.conversation_id AND p.id < messages.id);
    CREATE INDEX messages_parent ON messages(parent_id);
    """,
    # the image queue (engine/images/queue.py): `request` is an ImageRequest's JSON, `model`
    # the model asked for (a path or name; '' = the studio's default) and `model_name` what
    # the list shows; queued jobs run in `position` order; `images` is the JSON list of
    # the gallery ids a job made.
    """
    CREATE TABLE image_jobs (
        id INTEGER PRIMARY KEY,
        position INTEGER NOT NULL,
        request TEXT NOT NULL,
        model TEXT NOT NULL DEFAULT '',
        model_name TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL DEFAULT 'queued',
        done_steps INTEGER NOT NULL DEFAULT 0,
        total_steps INTEGER NOT NULL DEFAULT 0,
        error TEXT NOT NULL DEFAULT '',
        images TEXT NOT NULL DEFAULT '[]',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE INDEX image_jobs_state ON image_jobs(state, position);
    """,
    # the studio's settings per image model (engine/images/studio_memory.py): `json` holds
    # the last size, steps, guidance, sampler, seed mode, variations and strength used.
    """
    CREATE TABLE studio_settings (
        model TEXT PRIMARY KEY,
        json TEXT NOT NULL DEFAULT '{}',
        updated_at REAL NOT NULL
    );
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
    kind: str = ""
    """"" a text message; "images" an /imagine result; "story" a story page."""
    meta: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None
    """The message this one answers (None: the first); siblings are branches."""
    chosen: int = 0
    """Siblings' order of last being shown (the highest is on the active path)."""


@dataclass
class SystemPrompt:
    id: int
    name: str
    content: str


@dataclass
class SamplingPreset:
    """A named set of sampling values (temperature, stop strings, JSON mode, ...)."""

    id: int
    name: str
    params: dict[str, Any]
    builtin: bool = False


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


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to date, under an exclusive lock (waits for another
    instance's migration: busy_timeout)."""
    db.execute("BEGIN EXCLUSIVE")
    try:
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise StoreError(
                f"{path} was written by a newer genai-tui (schema {version}).",
                "Upgrade genai-tui, or point data_dir at another folder.",
            )
        for number in range(version, len(MIGRATIONS)):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {number + 1}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def wal_mode(db: sqlite3.Connection, wait_s: float = 10.0) -> None:
    """Switch to WAL, waiting while another instance holds the new file (it migrates):
    SQLite answers this pragma "database is locked" at once, without its busy timeout."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Database:
    """The connection: WAL, foreign keys, a busy timeout for a second instance, the schema
    migrated on open. Calls are short and serialized by a lock."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            if str(self.path) != ":memory:":
                private_dir(self.path.parent)
                # Made 0600 before SQLite opens it: its -wal and -shm files copy this mode.
                create_private(self.path)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout=5000")
            wal_mode(self._db)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._lock = threading.RLock()
            migrate(self._db, self.path)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"Cannot open the conversation database {self.path}: {exc}.",
                "If the file is damaged, move it aside; a new one is created on the next start.",
            ) from exc
        except OSError as exc:
            raise StoreError(
                f"Cannot create the conversation database {self.path}: {exc.strerror or exc}.",
                "Check that the data dir is writable (genai-tui doctor).",
            ) from exc

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

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
