"""A bounded YAML loader for files people write: safe tags only, and no surprises in size or shape.

:func:`load_yaml` is ``yaml.safe_load`` with four more refusals, each a
:class:`yaml.MarkedYAMLError` that says where (``problem_mark``) and what
(``problem``) in one line:

* a key repeated in one mapping (``bake: 1h`` then ``bake: 0s``), naming both lines;
* nesting deeper than :data:`MAX_DEPTH`, checked while composing, so a deep
  document never reaches Python's recursion limit;
* more than :data:`MAX_NODES` values with every alias expanded, counted while
  composing (an alias adds the size of what it points to), so an alias bomb
  (``a: &a [x, x]``, ``b: &b [*a, *a]``, ...) is refused after reading a few
  lines, before anything is built from it;
* an alias inside the node it refers to (a recursive structure).

A scalar that cannot be built (a timestamp such as ``2026-02-30``, an integer
of more than 4300 digits) is reported at its position too, instead of escaping
as ``ValueError``. Parsing uses libyaml when PyYAML has it, and pure Python
otherwise.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

try:
    from yaml._yaml import CParser as _Parser

    _LIBYAML = True
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _Parser

    _LIBYAML = False

__all__ = ["MAX_DEPTH", "MAX_NODES", "load_yaml"]

#: Deepest nesting of collections accepted (a plan needs about 8).
MAX_DEPTH = 64
#: Most values (scalars, sequences, mappings) a document may hold with every alias expanded.
MAX_NODES = 20_000


class _BoundedComposer(Composer):  # type: ignore[misc]  # PyYAML has no type stubs here
    """Composer that counts values (aliases expanded), limits nesting and refuses duplicate keys."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0  # nesting of the node being composed (the root is 1)
        self._deepest = 0  # deepest nesting reached, aliases expanded
        self._total = 0  # values composed so far, aliases expanded
        self._measured: dict[int, tuple[int, int]] = {}  # id(anchored node) -> (values, height)

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            target = self.anchors.get(event.anchor)
            if target is not None:
                measured = self._measured.get(id(target))
                if measured is None:
                    raise ComposerError(
                        None, None, f"alias *{event.anchor} is used inside the node it refers to", event.start_mark
                    )
                values, height = measured
                self._add(values, event.start_mark)
                self._reach(self._depth + height, event.start_mark)
            node: Node = super().compose_node(parent, index)
            return node
        self._depth += 1
        try:
            self._add(1, event.start_mark)
            self._reach(self._depth, event.start_mark)
            start_total, outer_deepest, self._deepest = self._total, self._deepest, self._depth
            node = super().compose_node(parent, index)
            if getattr(event, "anchor", None) is not None:
                self._measured[id(node)] = (self._total - start_total + 1, self._deepest - self._depth + 1)
            self._deepest = max(outer_deepest, self._deepest)
            return node
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: str | None) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        first: dict[tuple[str, str], Any] = {}
        for key, _ in node.value:
            if not isinstance(key, ScalarNode):
                continue  # a collection as a key: SafeConstructor refuses it (unhashable)
            seen = first.setdefault((key.tag, key.value), key.start_mark)
            if seen is not key.start_mark:
                raise ComposerError(
                    None,
                    None,
                    f"duplicate key {_short(key.value)}: first at line {seen.line + 1}, again at line "
                    f"{key.start_mark.line + 1}",
                    key.start_mark,
                )
        return node

    def _add(self, values: int, mark: Any) -> None:
        self._total += values
        if self._total > MAX_NODES:
            raise ComposerError(None, None, f"too many values: more than {MAX_NODES} with aliases expanded", mark)

    def _reach(self, depth: int, mark: Any) -> None:
        if depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep (aliases expanded)", mark)
        self._deepest = max(self._deepest, depth)


class _Constructor(SafeConstructor):  # type: ignore[misc]
    """SafeConstructor reporting a scalar it cannot build (``2026-02-30``) at the scalar's position."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # PyYAML's scalar constructors raise anything on odd input (``!!int ''``)
            problem = f"cannot read {_short(getattr(node, 'value', ''))} as {node.tag.rsplit(':', 1)[-1]}: {exc}"
            raise ConstructorError(None, None, problem, node.start_mark) from None


if _LIBYAML:

    class _Loader(_BoundedComposer, _Parser, _Constructor, Resolver):  # type: ignore[misc]
        def __init__(self, text: str) -> None:
            _Parser.__init__(self, text)
            _BoundedComposer.__init__(self)
            _Constructor.__init__(self)
            Resolver.__init__(self)

else:  # pragma: no cover
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Loader(Reader, Scanner, _Parser, _BoundedComposer, _Constructor, Resolver):  # type: ignore[misc,no-redef]
        def __init__(self, text: str) -> None:
            Reader.__init__(self, text)
            Scanner.__init__(self)
            _Parser.__init__(self)
            _BoundedComposer.__init__(self)
            _Constructor.__init__(self)
            Resolver.__init__(self)


def load_yaml(text: str) -> Any:
    """The single YAML document in ``text``, built with safe tags only and within the bounds above.

    Raises :class:`yaml.YAMLError` (with a ``problem_mark`` where one is known).
    """
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        if "maximum nesting depth" not in str(exc.problem):
            raise
        # libyaml (PyYAML 6.0.4+) may stop a deep flow before the composer sees it: one message either way.
        raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", exc.problem_mark) from None
    finally:
        loader.dispose()


def _short(value: Any, limit: int = 40) -> str:
    text = value if isinstance(value, str) else str(value)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."
