"""ringctl's custom search attributes, so the Temporal UI and ``ringctl list`` can filter releases.

Apart from :mod:`ringctl.core.constants` because they are Temporal SDK objects:
importing the constants must not import Temporal (the CLI's start-up, issue 11).
"""

from temporalio.common import SearchAttributeKey

SA_SERVICE = SearchAttributeKey.for_keyword("RingctlService")
SA_VERSION = SearchAttributeKey.for_keyword("RingctlVersion")
SA_RING = SearchAttributeKey.for_keyword("RingctlRing")
SA_STATE = SearchAttributeKey.for_keyword("RingctlState")
#: Who may act on what a waiting release waits for (an approval, a budget or window override): the ring's
#: approvers still to act, users and the plan's group names, ``*`` when anyone may; empty when not waiting.
SA_WAITING_FOR = SearchAttributeKey.for_keyword_list("RingctlWaitingFor")
#: All of them, as the worker and the dev server register them.
SEARCH_ATTRIBUTES = (SA_SERVICE, SA_VERSION, SA_RING, SA_STATE, SA_WAITING_FOR)


def type_name(key: SearchAttributeKey) -> str:  # type: ignore[type-arg]
    """The attribute's type as ``temporal operator search-attribute create --type`` spells it (``KeywordList``)."""
    return "".join(part.capitalize() for part in key.indexed_value_type.name.split("_"))
