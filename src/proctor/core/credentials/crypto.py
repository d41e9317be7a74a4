"""Encryption at rest for miners' inference credentials (pure; no session, no I/O).

AES-256-GCM under a key derived from `PROCTOR_SECRET_KEY` with HKDF-SHA256. Each ciphertext is
`nonce (12 bytes) ‖ ciphertext ‖ tag` with a fresh random nonce, and its associated data names the
(hotkey, provider) it belongs to, so a row copied onto another miner or provider does not decrypt.
`key_id` is a short fingerprint of the derived key: a changed secret key is reported as such instead of
as a corrupt row. No message here ever contains a plaintext.

Rotation: the cipher holds a keyring, `PROCTOR_SECRET_KEY` (encrypts) and `PROCTOR_PREVIOUS_SECRET_KEYS`
(decrypt only). Each row names its key by `key_id`, so a row written under any key of the ring reads
back, and `proctor admin secret-key rotate` re-encrypts the rows whose key is not the current one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from proctor.config import Settings
from proctor.errors import ProctorError

NONCE_BYTES = 12
KEY_ID_CHARS = 16  # the column is String(16)
_HKDF_SALT = b"proctor/inference-credentials"
_HKDF_INFO = b"proctor inference credential encryption key v1"
_AAD_PREFIX = "proctor-inference-credential-v1"


class CredentialUndecryptable(ProctorError):
    """A stored credential cannot be read back; the server, not the caller, is at fault."""

    status_code = 500
    code = "CREDENTIAL_UNDECRYPTABLE"
    default_message = "A stored inference credential could not be decrypted"


class CredentialKeyMismatch(CredentialUndecryptable):
    code = "CREDENTIAL_KEY_MISMATCH"
    default_message = (
        "A stored inference credential was encrypted under a different PROCTOR_SECRET_KEY; "
        "restore that key (as PROCTOR_SECRET_KEY or in PROCTOR_PREVIOUS_SECRET_KEYS) or ask the miner to "
        "connect the provider again"
    )


def derive_key(secret_key: str) -> bytes:
    """The 256-bit AES key for a secret key (deterministic)."""
    if not secret_key:
        raise ValueError("an empty secret key cannot encrypt credentials")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
    return hkdf.derive(secret_key.encode())


def key_fingerprint(key: bytes) -> str:
    # A keyed hash of a fixed label: identifies the key without revealing anything usable about it.
    return hmac.new(key, b"proctor key id", hashlib.sha256).hexdigest()[:KEY_ID_CHARS]


def associated_data(*, hotkey: str, provider: str) -> bytes:
    # JSON keeps the encoding unambiguous whatever characters the fields contain.
    return json.dumps([_AAD_PREFIX, hotkey, provider], separators=(",", ":")).encode()


class CredentialCipher:
    """Encrypts under the current secret key; decrypts under it or any previous key of the ring."""

    def __init__(self, secret_key: str, previous: Sequence[str] = ()) -> None:
        key = derive_key(secret_key)
        self._aead = AESGCM(key)
        self.key_id = key_fingerprint(key)
        self._ring = {self.key_id: self._aead}
        for old in previous:
            if old and old != secret_key:
                derived = derive_key(old)
                self._ring.setdefault(key_fingerprint(derived), AESGCM(derived))

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialCipher:
        return cls(settings.effective_secret_key, settings.previous_secret_keys)

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The current key's id first, then the previous keys' ids."""
        return tuple(self._ring)

    def __repr__(self) -> str:
        return f"CredentialCipher(key_id={self.key_id!r}, previous={len(self._ring) - 1})"

    def encrypt(self, plaintext: str, *, hotkey: str, provider: str) -> tuple[bytes, str]:
        """Return (nonce ‖ ciphertext ‖ tag, key_id) for a credential."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(
            nonce, plaintext.encode(), associated_data(hotkey=hotkey, provider=provider)
        )
        return nonce + sealed, self.key_id

    def decrypt(self, ciphertext: bytes, key_id: str, *, hotkey: str, provider: str) -> str:
        """The credential, or `CredentialUndecryptable` (wrong key, wrong owner, or tampered row)."""
        aead = next((a for kid, a in self._ring.items() if hmac.compare_digest(key_id, kid)), None)
        if aead is None:
            raise CredentialKeyMismatch(
                f"stored credential for provider {provider!r} has key id {key_id!r}, "
                f"the secret keys configured have {list(self._ring)!r}: "
                + CredentialKeyMismatch.default_message
            )
        data = bytes(ciphertext)
        if len(data) <= NONCE_BYTES:
            raise CredentialUndecryptable(f"stored credential for provider {provider!r} is truncated")
        aad = associated_data(hotkey=hotkey, provider=provider)
        try:
            plaintext = aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], aad)
        except InvalidTag:
            raise CredentialUndecryptable(
                f"stored credential for provider {provider!r} failed authentication: it was altered "
                "or belongs to another miner or provider"
            ) from None
        return plaintext.decode()


def encrypt(plaintext: str, *, hotkey: str, provider: str, settings: Settings) -> tuple[bytes, str]:
    """Shortcut: encrypt under the settings' secret key."""
    return CredentialCipher.from_settings(settings).encrypt(plaintext, hotkey=hotkey, provider=provider)


def decrypt(ciphertext: bytes, key_id: str, *, hotkey: str, provider: str, settings: Settings) -> str:
    """Shortcut: decrypt under the settings' secret key."""
    return CredentialCipher.from_settings(settings).decrypt(
        ciphertext, key_id, hotkey=hotkey, provider=provider
    )
