"""DingTalk: the approval-instance protocol client, its error mapping, form decoding and event crypto.

Public surface: :class:`DingTalkClient` with :class:`DingTalkSettings`; :class:`CallbackCrypto` for
HTTP-push events; :func:`flatten_form` to decode form values. May use :mod:`ferry.ratelimit` and
:mod:`ferry.observe`; never the engine.
"""

from ferry.connectors.dingtalk.client import DingTalkClient, TokenCache
from ferry.connectors.dingtalk.crypto import CallbackCrypto, CallbackError
from ferry.connectors.dingtalk.forms import FlatForm, decode_component, flatten_form
from ferry.connectors.dingtalk.instance import is_approved, is_final
from ferry.connectors.dingtalk.spec import DingTalkSettings

__all__ = [
    "CallbackCrypto",
    "CallbackError",
    "DingTalkClient",
    "DingTalkSettings",
    "FlatForm",
    "TokenCache",
    "decode_component",
    "flatten_form",
    "is_approved",
    "is_final",
]
