"""The chat screen's own keys, in a module of their own: the start-up screen (boot.py)
shows and takes the same keys before the chat screen and the engine are imported."""

from __future__ import annotations

from textual.binding import Binding

PROMPT_PLACEHOLDER = "Message · Enter sends · Ctrl+J newline"

CHAT_KEYS = [
    Binding("escape", "stop", "Stop", tooltip="Stop the reply (it is kept, marked stopped)"),
    Binding("ctrl+n", "new_chat", "New", tooltip="Start a new chat"),
    Binding("ctrl+o", "pick_model", "Model", tooltip="Switch the chat model"),
    Binding("ctrl+r", "regenerate", "Regen",
            tooltip="Regenerate the last reply (the old one stays, a branch away)"),
    Binding("ctrl+g", "edit_last", "Edit",
            tooltip="Edit and resend your selected or last message (a new branch)"),
    Binding("ctrl+t", "system_prompt", "System", tooltip="Pick or write the system prompt"),
    Binding("ctrl+f", "chat_params", "Params",
            tooltip="This chat's sampling settings and presets"),  # fmt: skip
    Binding("ctrl+s", "export", "Export", tooltip="Export the chat as Markdown and JSON"),
    Binding("f5", "copy_reply", "Copy", tooltip="Copy the last reply (OSC 52)"),
    # priority: the prompt box (TextArea) binds f6 to select-line.
    Binding("f6", "copy_code", "Copy code", show=False, priority=True,
            tooltip="Copy the last code block (OSC 52)"),  # fmt: skip
    Binding("ctrl+l", "focus_list", "Chats", show=False, tooltip="Go to the chat list"),
    Binding("f8", "rename", "Rename", show=False, tooltip="Rename this chat"),
    Binding("f9", "move_to_project", "Project", show=False,
            tooltip="Move this chat to a project"),  # fmt: skip
    Binding("ctrl+delete", "delete_chat", "Delete", show=False,
            tooltip="Delete this chat (asks first)"),  # fmt: skip
    Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False,
            tooltip="Show or hide the chat list"),  # fmt: skip
    Binding("f10", "compare", "Compare", show=False,
            tooltip="Compare: one prompt to 2-4 models side by side"),  # fmt: skip
]

ATTACH_KEYS = [
    Binding("ctrl+a", "attach_file", "Attach", priority=True,
            tooltip="Attach a text file (its text goes into the message) or an image for a "
            "model that takes images (Home: line start)"),
]  # fmt: skip

CREATE_KEYS = [
    Binding("ctrl+e", "imagine_message", "Imagine", priority=True,
            tooltip="Make pictures of the message being written (/imagine)"),  # fmt: skip
]

BRANCH_KEYS = [
    Binding("alt+up", "select_message", "Select", show=False,
            tooltip="Select the last message: ↑/↓ move, ←/→ branches, e edit, r regenerate"),
    Binding("alt+left", "step_branch(-1)", "‹ Branch", show=False,
            tooltip="Show the previous branch (of the selected message, else the last)"),
    Binding("alt+right", "step_branch(1)", "Branch ›", show=False,
            tooltip="Show the next branch (of the selected message, else the last)"),
]  # fmt: skip
