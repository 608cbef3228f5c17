"""``X-ASRS-Signature``: HMAC-SHA256 of the connection id with each AccessKey (UPSTREAM.md §3).

The service sends ``sha256=<hex>`` per key, comma-joined (the real service signs with its
primary and secondary key; the Microsoft emulator sends one, upper-case). A request is
authentic when any entry matches any configured key; hex is compared case-insensitively
and in constant time. The key is used as UTF-8 text, never base64-decoded.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from enum import StrEnum


class SignatureCheck(StrEnum):
    OK = "ok"
    MISSING = "missing"  # no X-ASRS-Signature header
    MISMATCH = "mismatch"  # signed with a key the bridge does not know (or forged)


def sign(access_key: str, connection_id: str) -> str:
    digest = hmac.new(access_key.encode("utf-8"), connection_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class SignatureVerifier:
    def __init__(self, access_keys: Iterable[str]) -> None:
        self._keys = tuple(dict.fromkeys(access_keys))
        if not self._keys:
            raise ValueError("at least one AccessKey is needed to check upstream signatures")

    def check(self, header: str | None, connection_id: str) -> SignatureCheck:
        if header is None or not header.strip():
            return SignatureCheck.MISSING
        offered = [entry.strip().lower().encode() for entry in header.split(",") if entry.strip()]
        matched = False
        for key in self._keys:
            expected = sign(key, connection_id).encode()
            for entry in offered:
                # Every comparison runs, so timing does not tell which key or entry matched.
                matched |= hmac.compare_digest(entry, expected)
        return SignatureCheck.OK if matched else SignatureCheck.MISMATCH
