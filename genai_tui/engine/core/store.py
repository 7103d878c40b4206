"""SQLite store: conversations, messages, system prompts, projects and sampling presets
here; download jobs, gallery images and usage in store_tables; the schema in
store_schema. The only place with SQL.

WAL mode, one transaction per write: a process killed mid-reply loses at most
the reply in flight (it is saved only when complete or stopped), never an
earlier message. The schema is versioned (PRAGMA user_version) and migrated
forward on open.
"""

from __future__ import annotations

import json
import sqlite3
import time
from enum import Enum
from typing import Any, NamedTuple

from genai_tui.engine.core.errors import StoreError
from genai_tui.engine.core.message_tree import active_leaf, active_path
from genai_tui.engine.core.store_schema import (
    MIGRATIONS,
    Conversation,
    DownloadRecord,
    Message,
    SamplingPreset,
    SystemPrompt,
)
from genai_tui.engine.core.store_tables import MediaTables

__all__ = ["LEAF", "MIGRATIONS", "Conversation", "DownloadRecord", "Message", "SamplingPreset",
           "Store", "SystemPrompt"]  # fmt: skip


class _Leaf(Enum):
    LEAF = 0


LEAF = _Leaf.LEAF
"""add_message's default parent: the active path's last message."""


class _Node(NamedTuple):
    id: int
    parent_id: int | None
    chosen: int


class Store(MediaTables):
    """One SQLite database (see Database): conversations, messages, the prompt library and
    projects here; downloads, images and usage from MediaTables."""

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
        allowed = {"title", "model", "system_prompt", "params", "project_id", "provider"}
        if "project" in changes:
            name = changes.pop("project")
            changes["project_id"] = self.project_id(name) if name else None
        self._update("conversations", conv_id, allowed, changes, ("params",))
        return self.conversation(conv_id)

    def delete_conversation(self, conv_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conv_id,))

    # -- messages -----------------------------------------------------------
    # A conversation's messages form a tree (core/message_tree.py); `messages` is the
    # active path, the one the chat shows and the model is sent.

    @staticmethod
    def _nodes(db: sqlite3.Connection, conv_id: int) -> list[_Node]:
        rows = db.execute("SELECT id, parent_id, chosen FROM messages WHERE conversation_id = ?",
                          (conv_id,)).fetchall()  # fmt: skip
        return [_Node(*r) for r in rows]

    @staticmethod
    def _next_chosen(db: sqlite3.Connection, conv_id: int) -> int:
        row = db.execute("SELECT COALESCE(MAX(chosen), 0) + 1 FROM messages"
                         " WHERE conversation_id = ?", (conv_id,)).fetchone()  # fmt: skip
        return int(row[0])

    def add_message(self, conv_id: int, role: str, content: str,
                    parent: int | None | _Leaf = LEAF, **fields: Any) -> Message:  # fmt: skip
        """Add a message answering `parent` (by default the active path's last message;
        None: a new first message). It becomes the shown branch there."""
        now = time.time()
        if "meta" in fields:
            fields["meta"] = json.dumps(fields["meta"])
        with self._tx() as db:
            if parent is LEAF:
                parent = active_leaf(self._nodes(db, conv_id))
            columns = ["conversation_id", "role", "content", "created_at", "parent_id", "chosen",
                       *fields]  # fmt: skip
            values = [conv_id, role, content, now, parent, self._next_chosen(db, conv_id),
                      *fields.values()]  # fmt: skip
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
        data["meta"] = json.loads(data["meta"] or "{}")
        return Message(**data)

    def messages(self, conv_id: int) -> list[Message]:
        """The active path: from the first message to the branch last shown."""
        return active_path(self.message_tree(conv_id))

    def message_tree(self, conv_id: int) -> list[Message]:
        """Every message of every branch, oldest first."""
        rows = self._query(
            "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conv_id,)
        )
        return [self._message(r) for r in rows]

    def choose_message(self, msg_id: int) -> None:
        """Make the branch through `msg_id` the shown one (among its siblings)."""
        with self._tx() as db:
            row = db.execute("SELECT conversation_id FROM messages WHERE id = ?",
                             (msg_id,)).fetchone()  # fmt: skip
            if row is None:
                raise StoreError(f"Message {msg_id} does not exist.")
            db.execute("UPDATE messages SET chosen = ? WHERE id = ?",
                       (self._next_chosen(db, row[0]), msg_id))  # fmt: skip

    def update_message(
        self, msg_id: int, content: str, meta: dict[str, Any] | None = None
    ) -> None:
        with self._tx() as db:
            db.execute("UPDATE messages SET content = ? WHERE id = ?", (content, msg_id))
            if meta is not None:
                db.execute("UPDATE messages SET meta = ? WHERE id = ?", (json.dumps(meta), msg_id))

    def delete_messages(self, msg_ids: list[int]) -> None:
        """Delete these messages and every reply below them (their branches)."""
        with self._tx() as db:
            db.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in msg_ids])

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

    # -- sampling presets ---------------------------------------------------

    @staticmethod
    def _preset(row: sqlite3.Row) -> SamplingPreset:
        return SamplingPreset(row["id"], row["name"], json.loads(row["params"] or "{}"),
                              bool(row["builtin"]))  # fmt: skip

    def sampling_presets(self) -> list[SamplingPreset]:
        """Built-in ones first, then the user's, each by name."""
        rows = self._query("SELECT * FROM sampling_presets ORDER BY builtin DESC, name")
        return [self._preset(r) for r in rows]

    def sampling_preset(self, name: str) -> SamplingPreset | None:
        rows = self._query("SELECT * FROM sampling_presets WHERE name = ?", (name,))
        return self._preset(rows[0]) if rows else None

    def save_sampling_preset(self, name: str, params: dict[str, Any]) -> SamplingPreset:
        """Create or replace the user's preset `name` (a built-in one is left alone)."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "INSERT INTO sampling_presets(name, params, created_at, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET params = excluded.params,"
                " updated_at = excluded.updated_at WHERE builtin = 0",
                (name, json.dumps(params), now, now),
            )
        preset = self.sampling_preset(name)
        assert preset is not None
        return preset

    def delete_sampling_preset(self, name: str) -> bool:
        """Delete the user's preset `name`; False when there is none (built-ins stay)."""
        with self._tx() as db:
            cur = db.execute(
                "DELETE FROM sampling_presets WHERE name = ? AND builtin = 0", (name,)
            )
            return cur.rowcount > 0
