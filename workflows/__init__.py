"""Deterministic orchestration: the ``RingRelease`` workflow and its message models."""

if __name__ != "ringctl.workflows":  # pragma: no cover - a second copy of the module tree would register twice
    raise ImportError(f"import ringctl.workflows, not {__name__}: workflows/ is installed as ringctl.workflows")
