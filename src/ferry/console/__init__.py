"""The one HTTP app that ``ferry serve`` runs: health, readiness, ``/metrics``, the DingTalk event intake
(callback and Stream, wired from the connection's settings) and the web console.

The console is server-rendered (FastAPI, Jinja2, htmx; ECharts for charts; the front-end files are
vendored in ``static/vendor`` with their licences, no Node build). A page is one module in ``pages``
and one template in ``templates``. May use engine, store, observe, quality, scheme, connectors.
"""
