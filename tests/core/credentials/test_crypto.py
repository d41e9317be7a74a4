"""AES-GCM encryption at rest: round trip, fresh nonces, owner binding, key fingerprints."""

from __future__ import annotations

import pytest

from proctor.core.credentials.crypto import (
    KEY_ID_CHARS,
    NONCE_BYTES,
    CredentialCipher,
    CredentialKeyMismatch,
    CredentialUndecryptable,
    derive_key,
)
from tests.core.credentials.conftest import OTHER_SECRET_KEY, SECRET_KEY

SECRET = "rt_super-secret-refresh-token-value"
OWNER = {"hotkey": "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "provider": "chutes"}


class TestCipher:
    def test_round_trip(self) -> None:
        cipher = CredentialCipher(SECRET_KEY)
        ciphertext, key_id = cipher.encrypt(SECRET, **OWNER)
        assert cipher.decrypt(ciphertext, key_id, **OWNER) == SECRET
        # A second cipher from the same secret key reads it too (the key is derived, not random).
        assert CredentialCipher(SECRET_KEY).decrypt(ciphertext, key_id, **OWNER) == SECRET

    def test_ciphertext_hides_plaintext_and_uses_fresh_nonces(self) -> None:
        cipher = CredentialCipher(SECRET_KEY)
        first, _ = cipher.encrypt(SECRET, **OWNER)
        second, _ = cipher.encrypt(SECRET, **OWNER)
        assert first != second and first[:NONCE_BYTES] != second[:NONCE_BYTES]
        assert SECRET.encode() not in first and SECRET[:8].encode() not in first
        assert len(first) == NONCE_BYTES + len(SECRET.encode()) + 16  # nonce ‖ ciphertext ‖ tag

    def test_key_id_is_a_short_stable_fingerprint(self) -> None:
        a, b = CredentialCipher(SECRET_KEY), CredentialCipher(OTHER_SECRET_KEY)
        assert len(a.key_id) == KEY_ID_CHARS and a.key_id == CredentialCipher(SECRET_KEY).key_id
        assert a.key_id != b.key_id
        assert a.key_id not in derive_key(SECRET_KEY).hex()
        assert SECRET_KEY not in repr(a) and derive_key(SECRET_KEY).hex() not in repr(a)

    def test_other_secret_key_fails_clearly(self) -> None:
        ciphertext, key_id = CredentialCipher(SECRET_KEY).encrypt(SECRET, **OWNER)
        with pytest.raises(CredentialKeyMismatch) as info:
            CredentialCipher(OTHER_SECRET_KEY).decrypt(ciphertext, key_id, **OWNER)
        assert "PROCTOR_SECRET_KEY" in info.value.message and info.value.status == 500
        assert SECRET not in str(info.value)

    def test_other_key_with_forged_key_id_still_fails(self) -> None:
        ciphertext, _ = CredentialCipher(SECRET_KEY).encrypt(SECRET, **OWNER)
        other = CredentialCipher(OTHER_SECRET_KEY)
        with pytest.raises(CredentialUndecryptable):
            other.decrypt(ciphertext, other.key_id, **OWNER)

    @pytest.mark.parametrize(
        "owner",
        [
            {"hotkey": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", "provider": "chutes"},
            {"hotkey": OWNER["hotkey"], "provider": "openrouter"},
        ],
    )
    def test_bound_to_hotkey_and_provider(self, owner: dict[str, str]) -> None:
        cipher = CredentialCipher(SECRET_KEY)
        ciphertext, key_id = cipher.encrypt(SECRET, **OWNER)
        with pytest.raises(CredentialUndecryptable) as info:
            cipher.decrypt(ciphertext, key_id, **owner)
        assert not isinstance(info.value, CredentialKeyMismatch)
        assert "another miner or provider" in info.value.message and SECRET not in str(info.value)

    def test_tampering_and_truncation_are_detected(self) -> None:
        cipher = CredentialCipher(SECRET_KEY)
        ciphertext, key_id = cipher.encrypt(SECRET, **OWNER)
        flipped = bytearray(ciphertext)
        flipped[-1] ^= 1
        with pytest.raises(CredentialUndecryptable):
            cipher.decrypt(bytes(flipped), key_id, **OWNER)
        with pytest.raises(CredentialUndecryptable):
            cipher.decrypt(ciphertext[:NONCE_BYTES], key_id, **OWNER)

    def test_empty_secret_key_is_refused(self) -> None:
        with pytest.raises(ValueError):
            CredentialCipher("")
