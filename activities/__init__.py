"""Side effects of a release: deploy, wait, roll back, evaluate gates.

Activities are idempotent and heartbeat while they wait. They reach the world
only through providers: a :class:`~ringctl.providers.interfaces.DeployTarget` and a
:class:`~ringctl.providers.interfaces.MetricsSource`.
"""

if __name__ != "ringctl.activities":  # pragma: no cover - a second copy of the module tree would register twice
    raise ImportError(f"import ringctl.activities, not {__name__}: activities/ is installed as ringctl.activities")
