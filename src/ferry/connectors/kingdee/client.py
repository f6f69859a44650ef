"""The async Kingdee Cloud Galaxy (K/3 Cloud) WebAPI client.

One :class:`KingdeeClient` per connection. It knows the protocol (service naming, envelopes, auth, error
shapes) and nothing of schemes. It is put together from its seams: :mod:`.session` (the HTTP exchange,
login and the one re-login on a lost session, call recording, concurrency), :mod:`.operations` (Save,
Push, Submit, Audit... read per bill) and :mod:`.bill_query` (ExecuteBillQuery, BillQuery, the existence
probe). The names other modules import from here are re-exported.
"""

from __future__ import annotations

from ferry.connectors.kingdee.bill_query import BillQueries
from ferry.connectors.kingdee.operations import BillOperations
from ferry.connectors.kingdee.results import EntityResult
from ferry.connectors.kingdee.session import (
    AUTH_SERVICE,
    DYNAMIC_FORM_SERVICE,
    SESSION_COOKIES,
    WRITE_OPERATIONS,
    Envelope,
)


class KingdeeClient(BillOperations, BillQueries):
    """Async client for one Kingdee data centre.

    ``base_url`` is the site root ending in ``/k3cloud/`` (a missing trailing slash is added).
    ``envelope`` picks the request shape: ``named`` (``{"formid":..,"data":{..}}``, the Python SDK's) or
    ``parameters`` (``{"parameters":[formid, "<data json>"]}``, the Java SDK's).
    """

    def __repr__(self) -> str:
        return (
            f"KingdeeClient({self.base_url!r}, mode={self.auth.mode.value}, acct_id={self.auth.acct_id!r}, "
            f"user={self.auth.username!r})"
        )

    async def __aenter__(self) -> KingdeeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = [
    "AUTH_SERVICE",
    "DYNAMIC_FORM_SERVICE",
    "SESSION_COOKIES",
    "WRITE_OPERATIONS",
    "EntityResult",
    "Envelope",
    "KingdeeClient",
]
