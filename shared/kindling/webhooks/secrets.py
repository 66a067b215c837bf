"""Webhook signing secrets, KMS-encrypted at rest (invariant secrets-stay) and bound to (workspace, webhook) by the
encryption context. Decryptions are cached per process by ciphertext (a rotation changes the ciphertext), so
a warm deliverer does not call KMS on every delivery.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from typing import Protocol

from kindling.platform import aws
from kindling.platform.settings import get_settings

_CACHE_SIZE = 1024


class WebhookSecretBox(Protocol):
    def encrypt(self, workspace_id: str, webhook_id: str, plaintext: str) -> str: ...

    def decrypt(self, workspace_id: str, webhook_id: str, ciphertext: str) -> str: ...


def _context(workspace_id: str, webhook_id: str) -> dict[str, str]:
    return {"workspace_id": workspace_id, "webhook_id": webhook_id}


_cache: OrderedDict[tuple[str, str, str], str] = OrderedDict()
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


class KmsWebhookSecretBox:
    def _key(self) -> str:
        key = get_settings().kms_key_id
        if not key:
            raise RuntimeError("KINDLING_KMS_KEY_ID is not configured")
        return key

    def encrypt(self, workspace_id: str, webhook_id: str, plaintext: str) -> str:
        response = aws.client("kms").encrypt(
            KeyId=self._key(), Plaintext=plaintext.encode("utf-8"), EncryptionContext=_context(workspace_id, webhook_id)
        )
        return base64.b64encode(response["CiphertextBlob"]).decode("ascii")

    def decrypt(self, workspace_id: str, webhook_id: str, ciphertext: str) -> str:
        cache_key = (workspace_id, webhook_id, ciphertext)
        with _cache_lock:
            cached = _cache.get(cache_key)
            if cached is not None:
                _cache.move_to_end(cache_key)
                return cached
        response = aws.client("kms").decrypt(
            KeyId=self._key(),
            CiphertextBlob=base64.b64decode(ciphertext),
            EncryptionContext=_context(workspace_id, webhook_id),
        )
        plaintext = bytes(response["Plaintext"]).decode("utf-8")
        with _cache_lock:
            _cache[cache_key] = plaintext
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return plaintext
