"""Miners' inference-provider credentials: encryption at rest, provider adapters and the service.

Use it as `from proctor.core.credentials import service as credential_service`.
"""

from proctor.core.credentials.crypto import CredentialCipher, CredentialKeyMismatch, CredentialUndecryptable
from proctor.core.credentials.providers import (
    ADAPTERS,
    CredentialRejected,
    InferenceGrant,
    ProviderAdapter,
    ProviderUnavailable,
    ValidationResult,
    adapter_for,
)

__all__ = [
    "ADAPTERS",
    "CredentialCipher",
    "CredentialKeyMismatch",
    "CredentialRejected",
    "CredentialUndecryptable",
    "InferenceGrant",
    "ProviderAdapter",
    "ProviderUnavailable",
    "ValidationResult",
    "adapter_for",
]
