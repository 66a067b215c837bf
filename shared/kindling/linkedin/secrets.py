"""Secrets of the LinkedIn side.

- A custom proxy's credentials, encrypted with the KMS key like mailbox passwords and bound to (workspace id,
  LinkedIn account id) by the encryption context: a ciphertext copied onto another account does not decrypt.
  They are never returned by the API; only the provider connection would need them.
(The provider's API key and the per-stack webhook secret are settings: `kindling.linkedin.provider`.)
"""

from __future__ import annotations

import base64
from typing import Protocol

from kindling.platform import aws
from kindling.platform.settings import get_settings


class ProxySecretBox(Protocol):
    def encrypt(self, workspace_id: str, account_id: str, plaintext: str) -> str: ...

    def decrypt(self, workspace_id: str, account_id: str, ciphertext: str) -> str: ...


def _context(workspace_id: str, account_id: str) -> dict[str, str]:
    return {"workspace_id": workspace_id, "linkedin_account_id": account_id}


class KmsProxySecretBox:
    def _key(self) -> str:
        key = get_settings().kms_key_id
        if not key:
            raise RuntimeError("KINDLING_KMS_KEY_ID is not configured")
        return key

    def encrypt(self, workspace_id: str, account_id: str, plaintext: str) -> str:
        response = aws.client("kms").encrypt(
            KeyId=self._key(), Plaintext=plaintext.encode("utf-8"), EncryptionContext=_context(workspace_id, account_id)
        )
        return base64.b64encode(response["CiphertextBlob"]).decode("ascii")

    def decrypt(self, workspace_id: str, account_id: str, ciphertext: str) -> str:
        response = aws.client("kms").decrypt(
            KeyId=self._key(),
            CiphertextBlob=base64.b64decode(ciphertext),
            EncryptionContext=_context(workspace_id, account_id),
        )
        return bytes(response["Plaintext"]).decode("utf-8")
