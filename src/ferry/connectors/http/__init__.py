"""The generic REST JSON connector: reach any HTTP API that speaks JSON.

- :mod:`.client` — :class:`RestClient`, an async httpx client that maps failures to typed errors and
  reports every call; it knows nothing of schemes.
- :mod:`.auth` — none, bearer (fixed or fetched from a token endpoint), basic, header key, query key.
- :mod:`.paging` — page-number, offset, cursor and next-link paging with safety stops.
- :mod:`.outcome` — does a 2xx answer say it worked? (the success rule of targets, sources and probes).
- :mod:`.target` — :class:`RestTarget`: single and array writes matched one to one, and the probe.
- :mod:`.adapter` — :class:`RestSource` and the ``build_*`` factories that map a connection's settings
  and a scheme side's plain fields onto the client.

May use :mod:`ferry.connectors` (contract, errors, settings) and :mod:`ferry.observe`; never the scheme
package or the engine. The public names are re-exported here.
"""

from ferry.connectors.http.adapter import RestSource, RestTarget, build_client, build_source, build_target
from ferry.connectors.http.auth import BasicAuth, BearerAuth, HeaderKeyAuth, NoAuth, QueryKeyAuth, build_auth
from ferry.connectors.http.client import RestClient
from ferry.connectors.http.paging import make_paginator

__all__ = [
    "BasicAuth",
    "BearerAuth",
    "HeaderKeyAuth",
    "NoAuth",
    "QueryKeyAuth",
    "RestClient",
    "RestSource",
    "RestTarget",
    "build_auth",
    "build_client",
    "build_source",
    "build_target",
    "make_paginator",
]
