"""What the fleet's API servers must show after a release: each region's image, generation and ReplicaSets."""

from __future__ import annotations

from collections.abc import Iterable

from tests.support.fleet import View


def assert_deployed_once(before: dict[str, View], after: dict[str, View], image: str, where: Iterable[str]) -> None:
    """Each region got ``image`` exactly once: one generation, one new ReplicaSet with the next revision."""
    for context in where:
        old, new = before[context], after[context]
        assert new.image == image, (context, new)
        assert (new.generation - old.generation, new.revision - old.revision) == (1, 1), (context, old, new)
        added = set(new.replica_sets) - set(old.replica_sets)
        assert [new.replica_sets[name] for name in added] == [(new.revision, image)], (context, old, new)


def assert_rolled_back(before: dict[str, View], after: dict[str, View], image: str, where: Iterable[str]) -> None:
    """Like ``kubectl rollout undo``: deployed once, then the previous revision's ReplicaSet re-used."""
    for context in where:
        old, new = before[context], after[context]
        assert new.image == old.image, (context, new)
        assert (new.generation - old.generation, new.revision - old.revision) == (2, 2), (context, old, new)
        previous = next(name for name, (revision, _) in old.replica_sets.items() if revision == old.revision)
        assert new.replica_sets[previous] == (new.revision, old.image), (context, old, new)
        added = set(new.replica_sets) - set(old.replica_sets)
        assert [new.replica_sets[name] for name in added] == [(old.revision + 1, image)], (context, old, new)


def assert_untouched(before: dict[str, View], after: dict[str, View], where: Iterable[str]) -> None:
    """The Deployment's spec never changed (same generation)."""
    for context in where:
        assert after[context] == before[context], context
