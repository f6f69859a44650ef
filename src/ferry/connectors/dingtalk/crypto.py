"""DingTalk's HTTP event-callback encryption (reference §6.2), for receiving pushed events.

- ``aes_key``: the 43-character EncodingAESKey from the console; the AES-256 key is
  ``base64decode(aes_key + "=")`` and the CBC IV is its first 16 bytes.
- plaintext: ``random(16) + len(msg) as 4 bytes big-endian + msg + owner_key``, PKCS#7-padded to a
  **32-byte** block. ``owner_key`` is the app key for console-configured events of an internal app,
  the corp id when registered through ``register_call_back``, or the suite key for ISV apps.
- signature: ``sha1("".join(sorted([token, timestamp, nonce, encrypt])))``, lowercase hex.
- reply: ``{"msg_signature", "timeStamp", "nonce", "encrypt": encrypt("success")}``.

Everything that arrives is hostile until the signature holds: :meth:`CallbackCrypto.open` checks the
signature's shape and value (constant time) before it decodes or decrypts anything, and every way a
request can be malformed (non-hex or non-ASCII signature, bad base64, wrong lengths, bad padding, JSON
nested too deep) is a :class:`CallbackError`, never another exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import string
import struct
import time
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ferry.errors import ConfigError, FerryError

_BLOCK = 32
_HEX = frozenset("0123456789abcdefABCDEF")


class CallbackError(FerryError, ValueError):
    """A pushed event failed the signature check or could not be decrypted (the request is refused)."""


class WrongRecipient(CallbackError):
    """A validly signed event encrypted for another app or corp (its owner key differs)."""


class CallbackCrypto:
    """Verify, decrypt and answer DingTalk HTTP-push events for one app.

    The token and aes_key are secrets: they do not appear in ``repr`` or in error messages.
    """

    def __init__(self, token: str, aes_key: str, owner_key: str) -> None:
        if len(aes_key) != 43:
            raise ConfigError("aes_key must be the 43-character EncodingAESKey from the console")
        try:
            key = base64.b64decode(aes_key + "=", validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError("aes_key is not valid base64") from None
        self._token = token
        self._key = key
        self.owner_key = owner_key

    def __repr__(self) -> str:
        return f"CallbackCrypto(owner_key={self.owner_key!r}, token=***, aes_key=***)"

    def signature(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """The SHA1 signature of the sorted token, timestamp, nonce and ciphertext."""
        joined = "".join(sorted([self._token, str(timestamp), str(nonce), encrypt]))
        return hashlib.sha1(joined.encode()).hexdigest()

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, message: str, random16: bytes | None = None) -> str:
        """Encrypt ``message`` the way DingTalk does; ``random16`` is for reproducible tests."""
        body = message.encode()
        prefix = random16 if random16 is not None else os.urandom(16)
        if len(prefix) != 16:
            raise ValueError("random16 must be 16 bytes")
        raw = prefix + struct.pack(">I", len(body)) + body + self.owner_key.encode()
        pad = _BLOCK - len(raw) % _BLOCK
        raw += bytes([pad]) * pad
        enc = self._cipher().encryptor()
        return base64.b64encode(enc.update(raw) + enc.finalize()).decode()

    def decrypt(self, encrypt: str) -> str:
        """Decrypt a ciphertext and check it was meant for this app's owner key."""
        try:
            data = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError):
            # ValueError: a str with non-ASCII characters
            raise CallbackError("encrypt is not valid base64") from None
        if not data or len(data) % 16:
            raise CallbackError("ciphertext length is not a multiple of the AES block")
        dec = self._cipher().decryptor()
        raw = dec.update(data) + dec.finalize()
        pad = raw[-1]
        if not 1 <= pad <= _BLOCK or raw[-pad:] != bytes([pad]) * pad:
            raise CallbackError("bad padding: wrong aes_key?")
        raw = raw[:-pad]
        if len(raw) < 20:
            raise CallbackError("plaintext too short")
        (length,) = struct.unpack(">I", raw[16:20])
        if 20 + length > len(raw):
            raise CallbackError("message length exceeds the plaintext")
        message, owner = raw[20 : 20 + length], raw[20 + length :]
        if not hmac.compare_digest(owner, self.owner_key.encode()):
            raise WrongRecipient("event is for another app or corp (owner key differs)")
        try:
            return message.decode()
        except UnicodeDecodeError:
            raise CallbackError("message is not UTF-8") from None

    def verify(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> None:
        """Raise :class:`CallbackError` unless the signature matches (it must be 40 hex characters)."""
        if not is_signature(signature):
            raise CallbackError("signature is not 40 hex characters")
        try:
            expected = self.signature(timestamp, nonce, encrypt)
        except UnicodeEncodeError:
            raise CallbackError("timestamp, nonce or encrypt is not text") from None
        if not hmac.compare_digest(signature.lower().encode("ascii"), expected.encode("ascii")):
            raise CallbackError("signature mismatch")

    def open(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> dict[str, Any]:
        """Verify and decrypt one pushed event into its JSON object."""
        self.verify(signature, timestamp, nonce, encrypt)
        text = self.decrypt(encrypt)
        try:
            event = json.loads(text)
        except (ValueError, RecursionError):
            raise CallbackError("decrypted message is not JSON") from None
        if not isinstance(event, dict):
            raise CallbackError("decrypted message is not a JSON object")
        return event

    def reply(
        self, message: str = "success", timestamp: str | None = None, nonce: str | None = None
    ) -> dict[str, str]:
        """The encrypted answer DingTalk expects (``success`` acknowledges the event)."""
        ts = timestamp or str(int(time.time() * 1000))
        nc = nonce or "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
        encrypt = self.encrypt(message)
        return {
            "msg_signature": self.signature(ts, nc, encrypt),
            "timeStamp": ts,
            "nonce": nc,
            "encrypt": encrypt,
        }


def is_signature(value: str) -> bool:
    """True for 40 hex characters (a SHA-1 in hex), the only shape a signature may have."""
    return len(value) == 40 and all(c in _HEX for c in value)


def callback_params(query: dict[str, str]) -> tuple[str, str, str]:
    """(signature, timestamp, nonce) from a push URL's query; accepts both spellings DingTalk uses."""
    signature = query.get("signature") or query.get("msg_signature") or ""
    timestamp = query.get("timestamp") or query.get("timeStamp") or ""
    nonce = query.get("nonce") or ""
    if not (signature and timestamp and nonce):
        raise CallbackError("signature, timestamp and nonce are required")
    return signature, timestamp, nonce
