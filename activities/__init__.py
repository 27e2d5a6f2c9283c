"""Side effects of a release: deploy, wait, roll back, evaluate gates.

Activities are idempotent and heartbeat while they wait. They reach the world
only through providers: a :class:`~activities.providers.DeployTarget` and a
:class:`~activities.providers.MetricsSource`.
"""
