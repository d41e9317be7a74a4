"""Pool's recipient-coldkey routes and request auth, in-process, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from proctor.auth.verifier import pool_auth_message, verify_pool_body, verify_pool_headers
from proctor.config import Settings
from proctor.errors import AuthError
from tests.conftest import running_app
from tests.core.rewards.keys import hotkey
from tests.support.signing import ALICE, BOB
from tests.surfaces.pool.signing import pool_headers, recipient_headers

COLD1, COLD2 = hotkey("pool-cold-1"), hotkey("pool-cold-2")
UPDATE_ROUTES = [
    ("PUT", "/api/v1/miners/recipient-coldkey"),
    ("POST", "/api/v1/miners/recipient-coldkey"),
    ("POST", "/api/v1/miners/coldkey_address/update"),
    ("POST", "/coldkey_address/update"),
]


@pytest.fixture
async def client(
    make_settings: Callable[..., Settings], database_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url=database_url, surfaces=["oro", "pool"])
    async with running_app(settings) as (_, client):
        yield client


class TestVerifier:
    def test_headers_with_and_without_0x(self) -> None:
        headers = pool_headers(ALICE)
        assert verify_pool_headers(headers, now=time.time()).hotkey == ALICE.ss58_address
        headers["X-Signature"] = "0x" + headers["X-Signature"]
        assert verify_pool_headers(headers, now=time.time()).hotkey == ALICE.ss58_address

    @pytest.mark.parametrize(
        ("change", "code"),
        [
            ({"X-Key": None}, "MISSING_HEADERS"),
            ({"X-Key": "5NotAKey"}, "INVALID_HOTKEY_FORMAT"),
            ({"X-Timestamp": "soon"}, "INVALID_TIMESTAMP"),
            ({"X-Timestamp": "-5"}, "INVALID_TIMESTAMP"),
            ({"X-Signature": "zz"}, "INVALID_SIGNATURE"),
            ({"X-Key": BOB.ss58_address}, "INVALID_SIGNATURE"),
        ],
    )
    def test_each_failure_is_401(self, change: dict[str, str | None], code: str) -> None:
        headers: dict[str, str | None] = {**pool_headers(ALICE), **change}
        with pytest.raises(AuthError) as info:
            verify_pool_headers(headers, now=time.time())
        assert (info.value.status, info.value.error_code) == (401, code)

    def test_window_is_300_seconds_either_side(self) -> None:
        now = time.time()
        for offset in (-295, 295):
            verify_pool_headers(pool_headers(ALICE, timestamp=int(now + offset)), now=now)
        for offset in (-310, 310):
            with pytest.raises(AuthError) as info:
                verify_pool_headers(pool_headers(ALICE, timestamp=int(now + offset)), now=now)
            assert info.value.error_code == "TIMESTAMP_SKEW"

    def test_auth_signature_does_not_authorise_a_recipient_update(self) -> None:
        with pytest.raises(AuthError):
            verify_pool_headers(pool_headers(ALICE), now=time.time(), recipient_coldkeys=(COLD1,))
        headers = recipient_headers(ALICE, COLD1)
        assert (
            verify_pool_headers(headers, now=time.time(), recipient_coldkeys=(COLD1,)).hotkey
            == ALICE.ss58_address
        )
        with pytest.raises(AuthError):
            verify_pool_headers(headers, now=time.time(), recipient_coldkeys=(COLD2,))

    def test_body_copy(self) -> None:
        ts = str(int(time.time()))
        signature = ALICE.sign(pool_auth_message(ts)).hex()
        assert verify_pool_body(
            ALICE.ss58_address, signature, f"auth:{ts}", now=time.time()
        ).timestamp == int(ts)
        with pytest.raises(AuthError):
            verify_pool_body(ALICE.ss58_address, signature, f"hello:{ts}", now=time.time())


class TestRecipientRoutes:
    @pytest.mark.parametrize(("method", "path"), UPDATE_ROUTES)
    @pytest.mark.parametrize("key", ["recipient_coldkey", "coldkey_address"])
    async def test_every_update_route_and_alias(
        self, client: httpx.AsyncClient, method: str, path: str, key: str
    ) -> None:
        response = await client.request(
            method, path, json={key: f" {COLD1} "}, headers=recipient_headers(ALICE, COLD1)
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "success"
        assert (body["miner_hotkey"], body["recipient_coldkey"], body["changed"]) == (
            ALICE.ss58_address,
            COLD1,
            True,
        )
        public = await client.get(f"/api/v1/miners/recipient-coldkey/{ALICE.ss58_address}")
        assert public.json()["recipient_coldkey"] == COLD1

    async def test_lookups(self, client: httpx.AsyncClient) -> None:
        unset = await client.get(f"/api/v1/miners/recipient-coldkey/{BOB.ss58_address}")
        assert unset.status_code == 200
        assert unset.json() | {"updated_at": None} == {
            "miner_hotkey": BOB.ss58_address,
            "recipient_coldkey": None,
            "effective_recipient_coldkey": BOB.ss58_address,
            "is_set": False,
            "updated_at": None,
            "history": None,
        }
        assert (await client.get("/api/v1/miners/recipient-coldkey/not-an-address")).status_code == 400
        now = int(time.time())
        for i, cold in enumerate((COLD1, COLD2)):
            r = await client.put(
                "/api/v1/miners/recipient-coldkey",
                json={"recipient_coldkey": cold},
                headers=recipient_headers(ALICE, cold, timestamp=now - 10 + i),
            )
            assert r.status_code == 200, r.text
        own = await client.get("/api/v1/miners/recipient-coldkey", headers=pool_headers(ALICE))
        assert own.status_code == 200
        body = own.json()
        assert (body["recipient_coldkey"], body["is_set"]) == (COLD2, True)
        assert [(h["recipient_coldkey"], h["previous_recipient_coldkey"]) for h in body["history"]] == [
            (COLD2, COLD1),
            (COLD1, None),
        ]
        missing = await client.get("/api/v1/miners/recipient-coldkey")
        assert missing.status_code == 401 and "X-Key" in missing.json()["detail"]

    async def test_refusals(self, client: httpx.AsyncClient) -> None:
        path = "/api/v1/miners/recipient-coldkey"
        bad_signer = await client.put(
            path,
            json={"recipient_coldkey": COLD1},
            headers=recipient_headers(BOB, COLD1) | {"X-Key": ALICE.ss58_address},
        )
        assert bad_signer.status_code == 401 and bad_signer.json() == {"detail": "Invalid signature"}
        other_recipient = await client.put(
            path, json={"recipient_coldkey": COLD2}, headers=recipient_headers(ALICE, COLD1)
        )
        assert other_recipient.status_code == 401, "the signature binds the recipient"
        plain_auth = await client.put(path, json={"recipient_coldkey": COLD1}, headers=pool_headers(ALICE))
        assert plain_auth.status_code == 401
        stale = await client.put(
            path,
            json={"recipient_coldkey": COLD1},
            headers=recipient_headers(ALICE, COLD1, timestamp=int(time.time()) - 400),
        )
        assert stale.status_code == 401 and "window" in stale.json()["detail"]
        invalid = await client.put(
            path, json={"recipient_coldkey": "5Nope"}, headers=recipient_headers(ALICE, "5Nope")
        )
        assert invalid.status_code == 400 and invalid.json() == {
            "detail": "recipient_coldkey must be a valid SS58 address"
        }
        assert (await client.put(path, json={}, headers=recipient_headers(ALICE, COLD1))).status_code == 422
        both = {"recipient_coldkey": COLD1, "coldkey_address": COLD2}
        assert (await client.put(path, json=both, headers=recipient_headers(ALICE, COLD1))).status_code == 422
        assert (
            await client.put(path, content=b"{not json", headers=recipient_headers(ALICE, COLD1))
        ).status_code == 422
        lookup = await client.get(f"/api/v1/miners/recipient-coldkey/{ALICE.ss58_address}")
        assert lookup.json()["recipient_coldkey"] is None, "nothing was written by any refusal"

    async def test_replays_cannot_roll_back(self, client: httpx.AsyncClient) -> None:
        path = "/api/v1/miners/recipient-coldkey"
        now = int(time.time())
        old = recipient_headers(ALICE, COLD1, timestamp=now - 5)
        assert (await client.put(path, json={"recipient_coldkey": COLD1}, headers=old)).status_code == 200
        new = recipient_headers(ALICE, COLD2, timestamp=now)
        assert (await client.put(path, json={"recipient_coldkey": COLD2}, headers=new)).status_code == 200
        replay = await client.put(path, json={"recipient_coldkey": COLD1}, headers=old)
        assert replay.status_code == 409 and "sign a new update" in replay.json()["detail"]
        retry = await client.put(path, json={"recipient_coldkey": COLD2}, headers=new)
        assert retry.status_code == 200 and retry.json()["changed"] is False
        own = await client.get("/api/v1/miners/recipient-coldkey", headers=pool_headers(ALICE))
        assert own.json()["recipient_coldkey"] == COLD2

    async def test_body_auth_keys_are_ignored_or_a_fallback(self, client: httpx.AsyncClient) -> None:
        ts = str(int(time.time()))
        message = f"recipient_coldkey:update:{ts}:{COLD1}"
        body = {
            "coldkey_address": COLD1,
            "public_address": BOB.ss58_address,
            "signature": "00",
            "message": "auth:1",
        }
        with_headers = await client.post(
            "/coldkey_address/update", json=body, headers=recipient_headers(ALICE, COLD1)
        )
        assert with_headers.status_code == 200 and with_headers.json()["miner_hotkey"] == ALICE.ss58_address
        fallback = {
            "coldkey_address": COLD1,
            "public_address": BOB.ss58_address,
            "signature": "0x" + BOB.sign(message).hex(),
            "message": message,
        }
        only_body = await client.post("/coldkey_address/update", json=fallback)
        assert only_body.status_code == 200 and only_body.json()["miner_hotkey"] == BOB.ss58_address
        forged = {**fallback, "coldkey_address": COLD2}
        assert (await client.post("/coldkey_address/update", json=forged)).status_code == 401
