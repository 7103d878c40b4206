"""A conversation's messages as a tree: each message answers its parent (the first has
none), an edit or a regenerate adds a sibling, and the active path runs from a root down
through the most recently chosen child at each level. Pure functions over the rows the
store reads (store.py holds the SQL).

`chosen` is a per-conversation counter: a new message takes the next number, and
stepping to a sibling gives it the next number again, so at every level the child with
the highest number is the one last shown, and stepping back into a branch shows it as
it was left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast


class Node(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def parent_id(self) -> int | None: ...

    @property
    def chosen(self) -> int: ...


@dataclass(frozen=True)
class BranchPosition:
    """Where a message sits among its siblings: `index` (1-based) of `count`."""

    index: int
    count: int


def children(nodes: Iterable[Node]) -> dict[int | None, list[Node]]:
    """Each parent's children (None: the roots), oldest first."""
    kids: dict[int | None, list[Node]] = {}
    for node in sorted(nodes, key=lambda n: n.id):
        kids.setdefault(node.parent_id, []).append(node)
    return kids


def _chosen_child(kids: Sequence[Node]) -> Node:
    return max(kids, key=lambda n: (n.chosen, n.id))


def descend(kids: dict[int | None, list[Node]], start: int | None) -> list[Node]:
    """From `start` (None: the roots) down through the chosen child at each level."""
    path: list[Node] = []
    while start in kids or (start is None and None in kids):
        node = _chosen_child(kids[start])
        path.append(node)
        start = node.id
    return path


N = TypeVar("N", bound=Node)


def active_path(nodes: Sequence[N]) -> list[N]:
    """The messages the chat shows and the model is sent: root to the active leaf."""
    return cast("list[N]", descend(children(nodes), None))  # the nodes given, in order


def active_leaf(nodes: Sequence[Node]) -> int | None:
    """The last message of the active path (None for an empty chat)."""
    path = descend(children(nodes), None)
    return path[-1].id if path else None


def positions(nodes: Sequence[Node]) -> dict[int, BranchPosition]:
    """For each message of the active path that has siblings: where it sits among them."""
    kids = children(nodes)
    found: dict[int, BranchPosition] = {}
    for node in descend(kids, None):
        siblings = kids[node.parent_id]
        if len(siblings) > 1:
            index = next(i for i, s in enumerate(siblings) if s.id == node.id)
            found[node.id] = BranchPosition(index + 1, len(siblings))
    return found


def sibling(nodes: Sequence[Node], message_id: int, step: int) -> Node | None:
    """The sibling `step` places from `message_id` (wrapping round); None without any."""
    by_id = {n.id: n for n in nodes}
    node = by_id.get(message_id)
    if node is None:
        return None
    siblings = children(nodes)[node.parent_id]
    if len(siblings) < 2:
        return None
    index = next(i for i, s in enumerate(siblings) if s.id == message_id)
    return siblings[(index + step) % len(siblings)]


def path_to(nodes: Sequence[N], message_id: int) -> list[N]:
    """From the first message down to `message_id` (empty when it is not there)."""
    by_id = {n.id: n for n in nodes}
    path: list[N] = []
    node = by_id.get(message_id)
    while node is not None:
        path.append(node)
        node = by_id.get(node.parent_id) if node.parent_id is not None else None
    return path[::-1]
