"""ORO request auth over HTTP: every refusal has its documented status and body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI

from proctor.config import Settings
from proctor.core.identity import service as identity_service
from proctor.surfaces.oro.auth import MinerAuth, ValidatorAuth, per_hotkey_limit
from tests.conftest import running_app
from tests.support.signing import ALICE, BOB, CHARLIE, DAVE, EVE, oro_headers


def probe_router() -> APIRouter:
    """Role-gated routes for the matrix, at the root (the real miner/validator routes live in mounted
    groups and are exercised by the surface tests)."""
    router = APIRouter()

    @router.get("/probe/miner")
    async def miner_probe(principal: MinerAuth) -> dict[str, str]:
        return {"hotkey": principal.hotkey, "via": principal.via}

    @router.get("/probe/validator")
    async def validator_probe(principal: ValidatorAuth) -> dict[str, str]:
        return {"hotkey": principal.hotkey}

    @router.post("/probe/limited", dependencies=[Depends(per_hotkey_limit("rate_limit_submit"))])
    async def limited(principal: MinerAuth) -> dict[str, str]:
        return {"ok": principal.hotkey}

    return router


@pytest.fixture
async def probe(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    from proctor.app import create_app

    app = create_app(settings)
    app.include_router(probe_router())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            yield app, c


async def ban(app: FastAPI, hotkey: str, reason: str) -> None:
    async with app.state.proctor.sessionmaker() as s:
        await identity_service.ban(s, hotkey=hotkey, reason=reason)
        await s.commit()
    await app.state.proctor.registry.refresh()


def body_code(response: httpx.Response) -> str:
    detail = response.json()["detail"]
    assert isinstance(detail, dict) and set(detail) == {"code", "message"}
    assert response.json()["error_code"] == detail["code"]
    return str(detail["code"])


class TestMatrix:
    async def test_valid_signed_request_passes(self, probe: tuple[FastAPI, httpx.AsyncClient]) -> None:
        _, c = probe
        r = await c.get("/probe/miner", headers=oro_headers(BOB))
        assert r.status_code == 200 and r.json() == {"hotkey": BOB.ss58_address, "via": "signature"}
        r = await c.get("/probe/validator", headers=oro_headers(ALICE))
        assert r.status_code == 200

    @pytest.mark.parametrize(
        ("make", "status", "code"),
        [
            (lambda: {}, 401, "MISSING_HEADERS"),
            (lambda: {k: v for k, v in oro_headers(BOB).items() if k != "X-Nonce"}, 401, "MISSING_HEADERS"),
            (lambda: oro_headers(BOB, hotkey="5Bad"), 400, "INVALID_HOTKEY_FORMAT"),
            (lambda: oro_headers(BOB, timestamp="soon"), 400, "INVALID_TIMESTAMP"),
            (lambda: oro_headers(BOB, timestamp=int(time.time()) - 120), 401, "TIMESTAMP_SKEW"),
            (lambda: oro_headers(BOB, timestamp=int(time.time()) + 120), 401, "TIMESTAMP_SKEW"),
            (lambda: oro_headers(BOB, nonce="x" * 300), 400, "NONCE_TOO_LONG"),
            (lambda: oro_headers(DAVE, hotkey=BOB.ss58_address), 401, "INVALID_SIGNATURE"),
            (lambda: oro_headers(DAVE), 403, "NOT_REGISTERED"),
        ],
    )
    async def test_refusals(
        self,
        probe: tuple[FastAPI, httpx.AsyncClient],
        make: Callable[[], dict[str, str]],
        status: int,
        code: str,
    ) -> None:
        _, c = probe
        r = await c.get("/probe/miner", headers=make())
        assert r.status_code == status
        assert body_code(r) == code

    async def test_replayed_nonce_is_refused(self, probe: tuple[FastAPI, httpx.AsyncClient]) -> None:
        _, c = probe
        headers = oro_headers(BOB)
        assert (await c.get("/probe/miner", headers=headers)).status_code == 200
        r = await c.get("/probe/miner", headers=headers)
        assert r.status_code == 401 and body_code(r) == "NONCE_REUSED"

    async def test_invalid_signature_does_not_burn_the_nonce(
        self, probe: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        _, c = probe
        good = oro_headers(BOB)
        bad = {**good, "X-Signature": "0x" + "11" * 64}
        assert (await c.get("/probe/miner", headers=bad)).status_code == 401
        assert (await c.get("/probe/miner", headers=good)).status_code == 200

    async def test_validator_route_needs_permit_and_stake(
        self, make_settings: Callable[..., Settings], database_url: str
    ) -> None:
        from proctor.app import create_app

        app = create_app(make_settings(database_url=database_url, validator_min_stake=100.0))
        app.include_router(probe_router())
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
                no_permit = await c.get("/probe/validator", headers=oro_headers(BOB))
                low_stake = await c.get("/probe/validator", headers=oro_headers(EVE))
                ok = await c.get("/probe/validator", headers=oro_headers(ALICE))
        assert no_permit.status_code == 403 and body_code(no_permit) == "NOT_REGISTERED_AS_VALIDATOR"
        assert low_stake.status_code == 403 and "stake" in low_stake.json()["detail"]["message"]
        assert ok.status_code == 200

    async def test_banned_hotkey_gets_403_saying_banned(
        self, probe: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        app, c = probe
        await ban(app, CHARLIE.ss58_address, "copied agents")
        r = await c.get("/probe/miner", headers=oro_headers(CHARLIE))
        assert r.status_code == 403 and body_code(r) == "BANNED"
        assert "banned" in r.text

    async def test_ban_reaches_a_running_server_through_the_refresher(
        self, probe: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        app, c = probe
        async with app.state.proctor.sessionmaker() as s:  # as the CLI would: straight to the database
            await identity_service.ban(s, hotkey=BOB.ss58_address, reason="x")
            await s.commit()
        deadline = time.monotonic() + 5
        while (await c.get("/probe/miner", headers=oro_headers(BOB))).status_code != 403:
            assert time.monotonic() < deadline, "ban not applied within the refresh interval"
            await asyncio.sleep(0.1)

    async def test_per_hotkey_limit_counts_only_authenticated_calls(
        self, probe: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        _, c = probe
        forged = oro_headers(DAVE, hotkey=BOB.ss58_address)
        assert (await c.post("/probe/limited", headers=forged)).status_code == 401
        assert (await c.post("/probe/limited", headers=oro_headers(BOB))).status_code == 200
        r = await c.post("/probe/limited", headers=oro_headers(BOB))
        assert r.status_code == 429
        assert r.json()["error_code"] == "RATE_LIMIT_EXCEEDED" and "detail" in r.json()
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert (await c.post("/probe/limited", headers=oro_headers(CHARLIE))).status_code == 200


class TestSessions:
    async def sign_in(self, c: httpx.AsyncClient, signer: object) -> httpx.Response:
        hotkey = signer.ss58_address  # type: ignore[attr-defined]
        challenge = (await c.post("/v1/auth/challenge", json={"hotkey": hotkey})).json()
        signature = signer.sign(challenge["challenge"].encode()).hex()  # type: ignore[attr-defined]
        return await c.post(
            "/v1/auth/session",
            json={"hotkey": hotkey, "challenge": challenge["challenge"], "signature": signature},
        )

    async def test_challenge_session_use_logout(self, probe: tuple[FastAPI, httpx.AsyncClient]) -> None:
        _, c = probe
        r = await self.sign_in(c, BOB)
        assert r.status_code == 200
        body = r.json()
        assert body["session_token"].startswith("ses_") and body["role"] == "miner"
        assert body["expires_at"] > time.time() + 7000
        bearer = {"Authorization": f"Bearer {body['session_token']}"}
        me = await c.get("/probe/miner", headers=bearer)
        assert me.json() == {"hotkey": BOB.ss58_address, "via": "session"}
        assert (await c.post("/v1/auth/logout", headers=bearer)).json() == {"success": True}
        after = await c.get("/probe/miner", headers=bearer)
        assert after.status_code == 401 and body_code(after) == "INVALID_SESSION"
        assert (await c.post("/v1/auth/logout", headers=bearer)).status_code == 401

    async def test_validator_role_and_whoami(self, probe: tuple[FastAPI, httpx.AsyncClient]) -> None:
        _, c = probe
        token = (await self.sign_in(c, ALICE)).json()
        assert token["role"] == "validator"
        me = await c.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token['session_token']}"})
        assert me.json()["validator_permit"] is True and me.json()["via"] == "session"

    async def test_challenge_is_single_use_and_bound(self, probe: tuple[FastAPI, httpx.AsyncClient]) -> None:
        _, c = probe
        ch = (await c.post("/v1/auth/challenge", json={"hotkey": BOB.ss58_address})).json()["challenge"]
        sig = BOB.sign(ch.encode()).hex()
        wrong_key = await c.post(
            "/v1/auth/session", json={"hotkey": CHARLIE.ss58_address, "challenge": ch, "signature": sig}
        )
        assert wrong_key.status_code == 401 and wrong_key.json()["detail"] == "Hotkey mismatch"
        reuse = await c.post(
            "/v1/auth/session", json={"hotkey": BOB.ss58_address, "challenge": ch, "signature": sig}
        )
        assert reuse.status_code == 401 and reuse.json()["detail"] == "Invalid or expired challenge"
        garbage = await c.post(
            "/v1/auth/session", json={"hotkey": BOB.ss58_address, "challenge": "x", "signature": sig}
        )
        assert garbage.json()["detail"] == "Invalid challenge format"

    async def test_bad_signature_unregistered_and_banned(
        self, probe: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        app, c = probe
        ch = (await c.post("/v1/auth/challenge", json={"hotkey": BOB.ss58_address})).json()["challenge"]
        bad = await c.post(
            "/v1/auth/session",
            json={"hotkey": BOB.ss58_address, "challenge": ch, "signature": CHARLIE.sign(ch.encode()).hex()},
        )
        assert bad.status_code == 401 and bad.json()["detail"] == "Invalid signature"
        unregistered = await self.sign_in(c, DAVE)
        assert unregistered.status_code == 401 and unregistered.json()["detail"] == "Not registered on subnet"
        await ban(app, CHARLIE.ss58_address, "x")
        banned = await self.sign_in(c, CHARLIE)
        assert banned.status_code == 403 and "banned" in banned.json()["detail"]
        bad_key = await c.post("/v1/auth/challenge", json={"hotkey": "nope"})
        assert bad_key.status_code == 400

    async def test_session_of_a_banned_hotkey_stops_working(
        self, probe: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        app, c = probe
        token = (await self.sign_in(c, BOB)).json()["session_token"]
        await ban(app, BOB.ss58_address, "x")
        r = await c.get("/probe/miner", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and "banned" in r.text


class TestRateLimits:
    async def test_challenge_limited_to_10_per_minute_per_ip(self, settings: Settings) -> None:
        async with running_app(settings) as (_, c):
            codes = [
                (await c.post("/v1/auth/challenge", json={"hotkey": BOB.ss58_address})).status_code
                for _ in range(11)
            ]
            assert codes == [200] * 10 + [429]
            r = await c.post("/v1/auth/challenge", json={"hotkey": BOB.ss58_address})
            assert r.json()["error_code"] == "RATE_LIMIT_EXCEEDED" and int(r.headers["retry-after"]) >= 1

    async def test_session_limited_to_5_per_minute_per_ip(self, settings: Settings) -> None:
        async with running_app(settings) as (_, c):
            body = {"hotkey": BOB.ss58_address, "challenge": "x", "signature": "00"}
            codes = [(await c.post("/v1/auth/session", json=body)).status_code for _ in range(6)]
            assert codes == [401] * 5 + [429]

    async def test_global_limit_per_ip_spares_health(
        self, make_settings: Callable[..., Settings], database_url: str
    ) -> None:
        async with running_app(make_settings(database_url=database_url, rate_limit_global="5/minute")) as (
            _,
            c,
        ):
            codes = [(await c.get("/v1/public/suites")).status_code for _ in range(6)]
            assert codes == [200] * 5 + [429]
            assert [(await c.get("/health")).status_code for _ in range(20)] == [200] * 20
            limited = await c.get("/v1/public/suites")
            assert limited.json() == {
                "detail": "Rate limit exceeded: 5 per 1 minute",
                "error_code": "RATE_LIMIT_EXCEEDED",
            }
            assert int(limited.headers["retry-after"]) >= 1

    async def test_forwarded_for_counts_only_from_trusted_proxies(
        self, make_settings: Callable[..., Settings], database_url: str
    ) -> None:
        untrusted = make_settings(database_url=database_url, rate_limit_global="2/minute")
        async with running_app(untrusted) as (_, c):
            codes = [
                (await c.get("/v1/public/suites", headers={"X-Forwarded-For": f"10.0.0.{i}"})).status_code
                for i in range(3)
            ]
            assert codes == [200, 200, 429], "spoofed X-Forwarded-For must not buy fresh buckets"
        trusted = make_settings(
            database_url=database_url, rate_limit_global="2/minute", trusted_proxies=["127.0.0.1/32"]
        )
        async with running_app(trusted) as (_, c):
            codes = [
                (await c.get("/v1/public/suites", headers={"X-Forwarded-For": f"10.0.0.{i}"})).status_code
                for i in range(3)
            ]
            assert codes == [200, 200, 200], "behind a trusted proxy each client has its own bucket"
