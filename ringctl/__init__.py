"""ringctl: ring deployment orchestrator.

A release moves through staging and ordered rings of regions (Japan last),
gated by SLO checks between rings, as a durable Temporal workflow.
"""

__version__ = "0.1.0"
