"""Mailbox passwords encrypted with the KMS key, bound to (workspace id, mailbox id) by the encryption context.

A ciphertext copied onto another mailbox or workspace does not decrypt. Plaintext never leaves this
module except as the return value of `decrypt` (for the connection test and the sender).
"""

from __future__ import annotations

import base64
from typing import Protocol

from kindling.platform import aws
from kindling.platform.settings import get_settings


class SecretBox(Protocol):
    def encrypt(self, workspace_id: str, mailbox_id: str, plaintext: str) -> str: ...

    def decrypt(self, workspace_id: str, mailbox_id: str, ciphertext: str) -> str: ...


def _context(workspace_id: str, mailbox_id: str) -> dict[str, str]:
    return {"workspace_id": workspace_id, "mailbox_id": mailbox_id}


class KmsSecretBox:
    def __init__(self, key_id: str | None = None) -> None:
        self._key_id = key_id

    def _key(self) -> str:
        key = self._key_id or get_settings().kms_key_id
        if not key:
            raise RuntimeError("KINDLING_KMS_KEY_ID is not configured")
        return key

    def encrypt(self, workspace_id: str, mailbox_id: str, plaintext: str) -> str:
        response = aws.client("kms").encrypt(
            KeyId=self._key(),
            Plaintext=plaintext.encode("utf-8"),
            EncryptionContext=_context(workspace_id, mailbox_id),
        )
        return base64.b64encode(response["CiphertextBlob"]).decode("ascii")

    def decrypt(self, workspace_id: str, mailbox_id: str, ciphertext: str) -> str:
        response = aws.client("kms").decrypt(
            KeyId=self._key(),
            CiphertextBlob=base64.b64decode(ciphertext),
            EncryptionContext=_context(workspace_id, mailbox_id),
        )
        return bytes(response["Plaintext"]).decode("utf-8")
