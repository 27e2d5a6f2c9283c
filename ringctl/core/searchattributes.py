"""ringctl's custom search attributes (Keyword), so the Temporal UI and ``ringctl list`` can filter releases.

Apart from :mod:`ringctl.core.constants` because they are Temporal SDK objects:
importing the constants must not import Temporal (the CLI's start-up, issue 11).
"""

from temporalio.common import SearchAttributeKey

SA_SERVICE = SearchAttributeKey.for_keyword("RingctlService")
SA_VERSION = SearchAttributeKey.for_keyword("RingctlVersion")
SA_RING = SearchAttributeKey.for_keyword("RingctlRing")
SA_STATE = SearchAttributeKey.for_keyword("RingctlState")
#: All of them, as the worker and the dev server register them.
SEARCH_ATTRIBUTES = (SA_SERVICE, SA_VERSION, SA_RING, SA_STATE)
