"""DingTalk's HTTP-push encryption, as the DingTalk side does it (reference §6.2).

Deliberately a separate implementation from the client's: the sandbox must not share code with the
client it tests, so a mistake in one shows up as a failed round trip.
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


class EventCipher:
    """AES-256-CBC with the key and IV from the 43-char aes_key, PKCS#7 to 32-byte blocks."""

    def __init__(self, token: str, aes_key: str, owner_key: str) -> None:
        if len(aes_key) != 43:
            raise ValueError("aes_key must be 43 characters")
        self.token = token
        self.key = base64.b64decode(aes_key + "=")
        self.owner_key = owner_key

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """sha1 of the sorted, concatenated token, timestamp, nonce and ciphertext; lowercase hex."""
        return hashlib.sha1("".join(sorted([self.token, timestamp, nonce, encrypt])).encode()).hexdigest()

    def encrypt(self, plaintext: str, random16: bytes | None = None) -> str:
        """Base64 ciphertext of random(16) + len(4, big-endian) + message + owner key."""
        body = plaintext.encode()
        raw = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + self.owner_key.encode()
        pad = 32 - len(raw) % 32
        raw += bytes([pad]) * pad
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(enc.update(raw) + enc.finalize()).decode()

    def decrypt(self, encrypt: str) -> tuple[str, str]:
        """(message, owner key) from a base64 ciphertext; raises ValueError when malformed."""
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        raw = dec.update(base64.b64decode(encrypt)) + dec.finalize()
        pad = raw[-1]
        if not 1 <= pad <= 32:
            raise ValueError("bad padding")
        raw = raw[:-pad]
        (length,) = struct.unpack(">I", raw[16:20])
        return raw[20 : 20 + length].decode(), raw[20 + length :].decode()
