"""Kingdee Cloud Galaxy (金蝶云星空, K/3 Cloud) WebAPI connector: an async protocol client.

The public surface is re-exported here; the modules are ``client`` (:class:`KingdeeClient`, put together from
``session``: HTTP exchange and login, ``operations``: Save, Push, Submit..., and ``bill_query``: queries),
``auth`` (login modes and signing), ``envelope`` (lenient reply parsing), ``errors`` (reply → typed error)
and ``results``.
The scheme's target side is ``target`` (:class:`~ferry.connectors.kingdee.target.KingdeeTarget`), built on
``request`` (reading a rendered request), ``writing`` (Push/Save calls), ``followup`` (Submit, Audit...) and
``probing`` (finding what a lost write created); ``factory`` and ``spec`` wire it to a scheme.
Imports ``ferry.connectors.errors``, ``ferry.observe`` and ``ferry.ratelimit`` only.
"""

from ferry.connectors.kingdee.auth import (
    AuthMode,
    KingdeeAuth,
    client_secret,
    hmac_sha256_b64hex,
    login_sign,
    signed_headers,
)
from ferry.connectors.kingdee.client import WRITE_OPERATIONS, KingdeeClient
from ferry.connectors.kingdee.envelope import (
    EntityMessage,
    ResponseStatus,
    SuccessEntity,
    find_status,
    parse_body,
)
from ferry.connectors.kingdee.results import (
    EntityResult,
    FoundDocument,
    OperationResult,
    PushOutcome,
    PushResult,
    PushStatus,
    SaveResult,
)

__all__ = [
    "WRITE_OPERATIONS",
    "AuthMode",
    "EntityMessage",
    "EntityResult",
    "FoundDocument",
    "KingdeeAuth",
    "KingdeeClient",
    "OperationResult",
    "PushOutcome",
    "PushResult",
    "PushStatus",
    "ResponseStatus",
    "SaveResult",
    "SuccessEntity",
    "client_secret",
    "find_status",
    "hmac_sha256_b64hex",
    "login_sign",
    "parse_body",
    "signed_headers",
]
