"""The ORO header scheme, check by check, in bittensor-auth's order."""

from __future__ import annotations

import time

import pytest

from proctor.auth.verifier import is_valid_ss58, public_key, verify_oro_headers, verify_signature
from proctor.errors import AuthError
from tests.support.signing import ALICE, BOB, oro_headers


def check(headers: dict[str, str], now: float | None = None) -> None:
    verify_oro_headers(headers, now=now or time.time(), skew_seconds=60, max_nonce_length=256)


def code_of(headers: dict[str, str], now: float | None = None) -> tuple[int, str]:
    with pytest.raises(AuthError) as info:
        check(headers, now)
    return info.value.status, info.value.error_code


class TestVerifyOroHeaders:
    def test_valid_request_passes(self) -> None:
        headers = oro_headers(ALICE)
        signed = verify_oro_headers(headers, now=time.time(), skew_seconds=60, max_nonce_length=256)
        assert signed.hotkey == ALICE.ss58_address
        assert signed.nonce == headers["X-Nonce"]

    @pytest.mark.parametrize("missing", ["X-Hotkey", "X-Timestamp", "X-Nonce", "X-Signature"])
    def test_each_missing_header_is_401_naming_it(self, missing: str) -> None:
        headers = oro_headers(ALICE)
        del headers[missing]
        with pytest.raises(AuthError) as info:
            check(headers)
        assert (info.value.status, info.value.error_code) == (401, "MISSING_HEADERS")
        assert missing in info.value.message

    def test_bad_ss58_is_400(self) -> None:
        headers = oro_headers(ALICE, hotkey="5NotAnAddress")
        assert code_of(headers) == (400, "INVALID_HOTKEY_FORMAT")

    def test_non_integer_timestamp_is_400(self) -> None:
        assert code_of(oro_headers(ALICE, timestamp="12.5")) == (400, "INVALID_TIMESTAMP")

    @pytest.mark.parametrize("offset", [-61, 61, -3600, 10_000])
    def test_skewed_timestamp_either_side_is_401(self, offset: int) -> None:
        now = time.time()
        assert code_of(oro_headers(ALICE, timestamp=int(now) + offset), now) == (401, "TIMESTAMP_SKEW")

    @pytest.mark.parametrize("offset", [-59, 59])
    def test_timestamp_inside_window_passes(self, offset: int) -> None:
        now = time.time()
        check(oro_headers(ALICE, timestamp=int(now) + offset), now)

    def test_long_nonce_is_400(self) -> None:
        assert code_of(oro_headers(ALICE, nonce="n" * 257)) == (400, "NONCE_TOO_LONG")

    def test_colon_in_nonce_is_400(self) -> None:
        assert code_of(oro_headers(ALICE, nonce="a:b")) == (400, "NONCE_INVALID_CHARS")

    def test_signature_by_another_key_is_401(self) -> None:
        forged = oro_headers(BOB, hotkey=ALICE.ss58_address)
        assert code_of(forged) == (401, "INVALID_SIGNATURE")

    def test_signature_over_other_fields_is_401(self) -> None:
        headers = oro_headers(ALICE)
        headers["X-Nonce"] = "different-nonce"
        assert code_of(headers) == (401, "INVALID_SIGNATURE")

    @pytest.mark.parametrize("signature", ["0xzz", "0x1234", "not hex at all", "0x" + "00" * 64])
    def test_malformed_or_wrong_signature_is_401_not_400(self, signature: str) -> None:
        headers = oro_headers(ALICE)
        headers["X-Signature"] = signature
        assert code_of(headers) == (401, "INVALID_SIGNATURE")

    def test_signature_without_0x_prefix_is_accepted(self) -> None:
        headers = oro_headers(ALICE)
        headers["X-Signature"] = headers["X-Signature"][2:]
        check(headers)


class TestPrimitives:
    def test_ss58_validation(self) -> None:
        assert is_valid_ss58(ALICE.ss58_address)
        assert not is_valid_ss58("")
        assert not is_valid_ss58(ALICE.ss58_address[:-1] + "x")

    def test_public_key_matches_keypair(self) -> None:
        assert public_key(ALICE.ss58_address) == bytes(ALICE.public_key)

    def test_verify_signature_over_bytes(self) -> None:
        sig = ALICE.sign(b"payload").hex()
        assert verify_signature(ALICE.ss58_address, b"payload", sig)
        assert not verify_signature(ALICE.ss58_address, b"payloaD", sig)
        assert not verify_signature(BOB.ss58_address, b"payload", sig)
