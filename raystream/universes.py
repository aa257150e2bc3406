"""Universes: which tables have the same row keys (``pw.universes``).

A table's universe is the set of its row keys. Columns of two tables can be
combined in one expression when the first table's keys are a subset of the
other's (same universe, or a promised/derived subset): raystream then joins
them by row key. ``select`` keeps the universe, ``filter`` makes a subset,
static tables with the same ids share one universe (as in Pathway).
"""

from __future__ import annotations

from typing import Any


class Universe:
    """A set of row keys, related to others by equality and subset promises."""

    def __init__(self, subset_of: Universe | None = None) -> None:
        self._parent: Universe | None = None
        self._supersets: list[Universe] = [subset_of] if subset_of is not None else []
        self._disjoint: list[Universe] = []
        self.always_empty = False

    def root(self) -> Universe:
        """The representative of the universes promised equal to this one."""
        node = self
        while node._parent is not None:
            node = node._parent
        return node

    def is_subset_of(self, other: Universe) -> bool:
        """True if every key of this universe is known to be in ``other``."""
        target, seen, todo = other.root(), set(), [self.root()]
        while todo:
            node = todo.pop()
            if node is target:
                return True
            if id(node) in seen:
                continue
            seen.add(id(node))
            todo.extend(s.root() for s in node._supersets)
        return False

    def _closure(self) -> list[Universe]:
        """This universe's root and the roots of all its known supersets."""
        found: dict[int, Universe] = {}
        todo = [self.root()]
        while todo:
            node = todo.pop().root()
            if id(node) not in found:
                found[id(node)] = node
                todo.extend(node._supersets)
        return list(found.values())

    def is_disjoint_from(self, other: Universe) -> bool:
        """True if no key is known to be in both (a subset of disjoint sets is disjoint)."""
        if self.root().always_empty or other.root().always_empty:
            return True
        theirs = {id(u) for u in other._closure()}
        return any(id(d.root()) in theirs for mine in self._closure() for d in mine._disjoint)

    def promise_disjoint_from(self, other: Universe) -> None:
        """Records that no key is in both universes."""
        self.root()._disjoint.append(other)
        other.root()._disjoint.append(self)

    def is_equal_to(self, other: Universe) -> bool:
        """True if both universes are known to hold the same keys."""
        return self.is_subset_of(other) and other.is_subset_of(self)

    def promise_subset_of(self, other: Universe) -> None:
        """Records that this universe's keys are all in ``other``."""
        self.root()._supersets.append(other)

    def promise_equal_to(self, other: Universe) -> None:
        """Records that both universes hold the same keys."""
        a, b = self.root(), other.root()
        if a is not b:
            a._parent = b
            b._supersets.extend(a._supersets)


def _universe(table: Any) -> Universe:
    return table._node.universe


def promise_is_subset_of(subset: Any, superset: Any) -> None:
    """Promises that every row key of ``subset`` is a key of ``superset``."""
    _universe(subset).promise_subset_of(_universe(superset))


def promise_are_equal(*tables: Any) -> None:
    """Promises that all ``tables`` have the same row keys."""
    for table in tables[1:]:
        _universe(table).promise_equal_to(_universe(tables[0]))


def promise_are_pairwise_disjoint(*tables: Any) -> None:
    """Promises that no two of ``tables`` share a row key (``concat`` may combine them)."""
    for i, table in enumerate(tables):
        for other in tables[i + 1:]:
            _universe(table).promise_disjoint_from(_universe(other))


def is_subset_of(subset: Any, superset: Any) -> bool:
    """True if ``subset``'s keys are known to be keys of ``superset``."""
    return _universe(subset).is_subset_of(_universe(superset))
