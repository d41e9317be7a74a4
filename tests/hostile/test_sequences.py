"""Hostile sequences the corpus table cannot express: replayed and cross-route-replayed signatures,
impersonation, clock-skew edges, presigned URL tampering and expiry. Same live server, same checks."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

from proctor.storage.blobs import UrlSigner, content_key
from tests.hostile import harness
from tests.hostile.harness import Answer, Live, Snapshot
from tests.support.signing import ALICE, BOB, CHARLIE, oro_headers
from tests.surfaces.pool.signing import pool_headers, recipient_headers

ORO_SKEW = 60  # PROCTOR_AUTH_SKEW_SECONDS default
POOL_SKEW = 300  # PROCTOR_POOL_AUTH_SKEW_SECONDS default


def call(
    live: Live, method: str, path: str, headers: dict[str, str], body: bytes | None = None, **kw: bool
) -> Answer:
    values = {"Content-Type": "application/json", **headers} if body is not None else headers
    pairs = [(k.encode(), v.encode()) for k, v in values.items()]
    return harness.raw_request(live.url, method, path, pairs, body, **kw)


def refused(live: Live, surface: str, send: Callable[[], Answer], status: int | None = None) -> Answer:
    """`send()` is a 4xx in `surface`'s envelope, stores nothing and leaves the server up."""
    before = Snapshot.take(live)
    answer = send()
    assert 400 <= answer.status < 500, f"HTTP {answer.status} {answer.text[:400]}"
    if status is not None:
        assert answer.status == status, answer.text
    assert harness.envelope_problem(surface, answer.status, answer.text) is None, answer.text
    assert not before.changes(Snapshot.take(live))
    harness.still_answers(live.url)
    return answer


# --- ORO: nonces, routes, identities, the clock ------------------------------------------------------


def test_oro_nonce_replayed_on_the_same_route(live_sqlite: Live) -> None:
    headers = oro_headers(BOB)
    assert call(live_sqlite, "GET", "/v1/miner/agents", headers).status == 200
    answer = refused(live_sqlite, "oro", lambda: call(live_sqlite, "GET", "/v1/miner/agents", headers), 401)
    assert "nonce" in answer.text.lower()


def test_oro_signature_replayed_on_another_route(live_sqlite: Live) -> None:
    headers = oro_headers(BOB)
    assert call(live_sqlite, "GET", "/v1/miner/agents", headers).status == 200
    refused(live_sqlite, "oro", lambda: call(live_sqlite, "GET", "/v1/miner/inference-auth", headers), 401)


def test_oro_replay_of_a_write_stores_once(live_sqlite: Live) -> None:
    """A captured signed write sent again (same route, same body) is refused and changes nothing."""
    headers = oro_headers(BOB)
    body = b'{"provider": "nobody"}'
    first = call(live_sqlite, "PATCH", "/v1/miner/inference-auth/default", headers, body)
    assert first.status in (400, 404, 422), first.text  # not connected: nothing to choose
    refused(
        live_sqlite,
        "oro",
        lambda: call(live_sqlite, "PATCH", "/v1/miner/inference-auth/default", headers, body),
    )


def test_oro_key_impersonation(live_sqlite: Live) -> None:
    """Bob's key signing for Alice's hotkey (a validator) is refused; so is a miner on validator routes."""
    forged = oro_headers(BOB, hotkey=ALICE.ss58_address)
    refused(
        live_sqlite, "oro", lambda: call(live_sqlite, "POST", "/v1/validator/work/claim", forged, b"{}"), 401
    )
    miner = oro_headers(BOB)
    refused(
        live_sqlite, "oro", lambda: call(live_sqlite, "POST", "/v1/validator/work/claim", miner, b"{}"), 403
    )


@pytest.mark.parametrize("offset", [ORO_SKEW - 10, -(ORO_SKEW - 10)], ids=["past-inside", "future-inside"])
def test_oro_clock_skew_inside_the_window(live_sqlite: Live, offset: int) -> None:
    headers = oro_headers(BOB, timestamp=int(time.time()) - offset)
    assert call(live_sqlite, "GET", "/v1/miner/agents", headers).status == 200


@pytest.mark.parametrize("offset", [ORO_SKEW + 10, -(ORO_SKEW + 10)], ids=["past-outside", "future-outside"])
def test_oro_clock_skew_outside_the_window(live_sqlite: Live, offset: int) -> None:
    headers = oro_headers(BOB, timestamp=int(time.time()) - offset)
    refused(live_sqlite, "oro", lambda: call(live_sqlite, "GET", "/v1/miner/agents", headers), 401)


@pytest.mark.parametrize(
    "nonce", ["x" * 300, "a\tb", "ü" * 10, ""], ids=["too-long", "control", "non-ascii", "empty"]
)
def test_oro_hostile_nonce(live_sqlite: Live, nonce: str) -> None:
    headers = oro_headers(BOB)
    headers["X-Nonce"] = nonce  # the signature no longer matches either way; the nonce must not crash
    pairs = [(k.encode(), v.encode("utf-8")) for k, v in headers.items()]
    refused(
        live_sqlite,
        "oro",
        lambda: harness.raw_request(live_sqlite.url, "GET", "/v1/miner/agents", pairs, None),
    )


def test_oro_header_with_invalid_utf8(live_sqlite: Live) -> None:
    headers = oro_headers(BOB)
    pairs = [(k.encode(), v.encode()) for k, v in headers.items() if k != "X-Hotkey"]
    pairs.append((b"X-Hotkey", b"5G\xff\xfe\xc3"))
    refused(
        live_sqlite,
        "oro",
        lambda: harness.raw_request(live_sqlite.url, "GET", "/v1/miner/agents", pairs, None),
    )


@pytest.mark.parametrize(
    "surface, path",
    [
        ("oro", "/v1/public/suites"),
        ("pool", "/api/v1/miners/stats"),
        ("compute", "/v1/jobs"),
        ("bitrecs", "/scoring/latest"),
    ],
)
def test_oversized_headers(live_sqlite: Live, surface: str, path: str) -> None:
    """httptools (uvicorn's parser) takes any header size; proctor's edge refuses more than 32 KiB."""
    for pairs in ([(b"X-Big", b"a" * 200_000)], [(f"X-H{i}".encode(), b"b" * 1000) for i in range(40)]):
        answer = refused(
            live_sqlite,
            surface,
            lambda p=pairs: harness.raw_request(live_sqlite.url, "GET", path, p, None),
            431,
        )
        assert "error_code" in answer.text or "detail" in answer.text


def test_nul_and_malformed_headers_are_refused_by_the_server(live_sqlite: Live) -> None:
    """The HTTP parser refuses these before the app: a 400, and the server keeps serving."""
    for pairs in ([(b"X-Nul", b"a\x00b")], [(b"Bad Name", b"x")], [(b"X-Cr", b"a\rb")]):
        answer = harness.raw_request(live_sqlite.url, "GET", "/v1/public/suites", pairs, None)
        assert 400 <= answer.status < 500 or answer.status == 0, answer.status
        harness.still_answers(live_sqlite.url)


# --- Pool: signatures bound to a purpose, the timestamp window, ordered recipient updates ---------------


def test_pool_recipient_signature_on_the_wallet_route(live_sqlite: Live) -> None:
    headers = recipient_headers(CHARLIE, "5" + "C" * 47)
    refused(
        live_sqlite, "pool", lambda: call(live_sqlite, "POST", "/api/v1/miners/register", headers, b"{}"), 401
    )


def test_pool_wallet_signature_on_the_recipient_route(live_sqlite: Live) -> None:
    headers = pool_headers(CHARLIE)
    body = json.dumps({"recipient_coldkey": ALICE.ss58_address}).encode()
    refused(
        live_sqlite,
        "pool",
        lambda: call(live_sqlite, "PUT", "/api/v1/miners/recipient-coldkey", headers, body),
        401,
    )


@pytest.mark.parametrize("offset", [POOL_SKEW + 10, -(POOL_SKEW + 10)], ids=["past", "future"])
def test_pool_clock_skew_outside_the_window(live_sqlite: Live, offset: int) -> None:
    headers = pool_headers(CHARLIE, timestamp=int(time.time()) - offset)
    refused(
        live_sqlite, "pool", lambda: call(live_sqlite, "POST", "/api/v1/miners/register", headers, b"{}"), 401
    )


@pytest.mark.parametrize("offset", [POOL_SKEW - 10, -(POOL_SKEW - 10)], ids=["past", "future"])
def test_pool_clock_skew_inside_the_window(live_sqlite: Live, offset: int) -> None:
    headers = pool_headers(CHARLIE, timestamp=int(time.time()) - offset)
    assert call(live_sqlite, "GET", "/api/v1/miners/recipient-coldkey", headers).status in (200, 404)


def test_pool_older_recipient_update_replayed_after_a_newer_one(live_sqlite: Live) -> None:
    """Pool's scheme has no nonce: a captured update can be sent again inside the window. An older one
    must never undo a newer one."""
    now = int(time.time())
    old_target, new_target = ALICE.ss58_address, BOB.ss58_address
    old = recipient_headers(CHARLIE, old_target, timestamp=now - 20)
    new = recipient_headers(CHARLIE, new_target, timestamp=now - 10)
    path = "/api/v1/miners/recipient-coldkey"

    def put(headers: dict[str, str], target: str) -> Answer:
        return call(live_sqlite, "PUT", path, headers, json.dumps({"recipient_coldkey": target}).encode())

    assert put(old, old_target).status == 200
    assert put(new, new_target).status == 200
    refused(live_sqlite, "pool", lambda: put(old, old_target))
    current = call(live_sqlite, "GET", f"{path}/{CHARLIE.ss58_address}", {})
    assert json.loads(current.body)["recipient_coldkey"] == new_target


# --- Compute: one miner's key on another miner's routes ------------------------------------------------


def test_compute_miner_key_on_another_miners_route(live_sqlite: Live) -> None:
    offer = b'{"name": "other", "gpu_type": "a100", "gpu_count": 1, "price_per_hour": 1, "max_concurrent": 1}'
    other = json.loads(call(live_sqlite, "POST", "/v1/miners", {}, offer).body)
    mine = {"Authorization": f"Bearer {live_sqlite.compute_miner['key']}"}
    path = f"/v1/miners/{other['miner_id']}/heartbeat"
    refused(live_sqlite, "compute", lambda: call(live_sqlite, "POST", path, mine, b"{}"))


# --- Presigned blob URLs ------------------------------------------------------------------------------


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner(harness.SECRET_KEY.encode())


@pytest.fixture
def stored_blob(live_sqlite: Live) -> str:
    data = b"hostile blob body"
    key = content_key(data)
    path = live_sqlite.blob_root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return key


def get_url(key: str, params: dict[str, str]) -> str:
    return f"/blobs/{key}?{urlencode(params)}"


def test_presigned_get_works_untampered(live_sqlite: Live, signer: UrlSigner, stored_blob: str) -> None:
    params = signer.get_params(stored_blob, expires=int(time.time()) + 60, filename="a.txt")
    answer = call(live_sqlite, "GET", get_url(stored_blob, params), {})
    assert answer.status == 200 and answer.body == b"hostile blob body"


@pytest.mark.parametrize(
    "tamper",
    ["sig", "expires", "filename", "key", "expired", "missing-sig", "upper-sig", "put-as-get"],
)
def test_presigned_get_tampered(live_sqlite: Live, signer: UrlSigner, stored_blob: str, tamper: str) -> None:
    now = int(time.time())
    params = signer.get_params(stored_blob, expires=now + 60, filename="a.txt")
    key = stored_blob
    if tamper == "sig":
        params["sig"] = ("0" if params["sig"][0] != "0" else "1") + params["sig"][1:]
    elif tamper == "expires":
        params["expires"] = str(now + 10**9)
    elif tamper == "filename":
        params["fn"] = "../../evil.html"
    elif tamper == "key":
        key = content_key(b"another blob")
    elif tamper == "expired":
        params = signer.get_params(stored_blob, expires=now - 1, filename="a.txt")
    elif tamper == "missing-sig":
        params.pop("sig")
    elif tamper == "upper-sig":
        params["sig"] = params["sig"].upper()
    elif tamper == "put-as-get":
        params = signer.put_params(stored_blob, expires=now + 60, length=17, content_type="text/plain")
    answer = refused(live_sqlite, "blobs", lambda: call(live_sqlite, "GET", get_url(key, params), {}), 403)
    expected = "URL_EXPIRED" if tamper == "expired" else "INVALID_SIGNATURE"
    assert json.loads(answer.body)["error_code"] == expected


def test_presigned_put_of_json_is_stored_as_sent(live_sqlite: Live, signer: UrlSigner) -> None:
    """Blob uploads are opaque: a validator's JSON log with NaN in it is stored byte for byte, not parsed."""
    data = b'{"score": NaN, "deep": ' + b"[" * 100 + b"]" * 100 + b"}"
    key = content_key(data)
    params = signer.put_params(
        key, expires=int(time.time()) + 60, length=len(data), content_type="application/json"
    )
    answer = call(live_sqlite, "PUT", get_url(key, params), {"Content-Type": "application/json"}, data)
    assert answer.status == 200, answer.text
    assert (live_sqlite.blob_root / key).read_bytes() == data


@pytest.mark.parametrize(
    "tamper", ["max", "content-type-header", "content-type-param", "longer-body", "longer-chunked", "expired"]
)
def test_presigned_put_tampered(live_sqlite: Live, signer: UrlSigner, tamper: str) -> None:
    data = b"abc"
    key = content_key(data + tamper.encode())
    now = int(time.time())
    params = signer.put_params(key, expires=now + 60, length=3, content_type="text/plain")
    headers = {"Content-Type": "text/plain"}
    body, chunked = data, False
    if tamper == "max":
        params["max"] = "1000000"
    elif tamper == "content-type-header":
        headers["Content-Type"] = "text/html"
    elif tamper == "content-type-param":
        params["ct"] = "text/html"
        headers["Content-Type"] = "text/html"
    elif tamper == "longer-body":
        body = b"abcd"
    elif tamper == "longer-chunked":
        body, chunked = b"abcdefgh" * 1000, True
    elif tamper == "expired":
        params = signer.put_params(key, expires=now - 1, length=3, content_type="text/plain")
    pairs = [(k.encode(), v.encode()) for k, v in headers.items()]
    refused(
        live_sqlite,
        "blobs",
        lambda: harness.raw_request(
            live_sqlite.url, "PUT", get_url(key, params), pairs, body, chunked=chunked
        ),
    )
    assert not (live_sqlite.blob_root / key).exists()


# --- YAML bombs (Bitrecs agents are YAML gists) and hostile suite documents -------------------------

BILLION_LAUGHS = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},"
    f"*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
    for i in range(8)
)
YAML_BOMBS = {
    "billion-laughs": BILLION_LAUGHS,
    "deep-flow": "name: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep-block": "".join("  " * i + f"k{i}:\n" for i in range(2000)) + "  " * 2000 + "v: 1\n",
    "python-tag": "name: !!python/object/apply:os.system ['touch /tmp/hostile-yaml']\n",
    "oversize": "name: '" + "x" * (2 * 1024 * 1024) + "'\n",
    "nul": "name: a\x00b\n",
    "not-a-mapping": "- just\n- a list\n",
}


@pytest.mark.parametrize("bomb", list(YAML_BOMBS), ids=list(YAML_BOMBS))
def test_bitrecs_yaml_bombs(live_sqlite: Live, fake_github: Any, bomb: str) -> None:
    from tests.support.bitrecs import body as bitrecs_body

    gist_id, gist = fake_github.add("hostile-acct", YAML_BOMBS[bomb])
    payload = json.dumps(bitrecs_body(BOB, "hostile-acct", gist_id, gist)).encode()
    started = time.monotonic()
    refused(live_sqlite, "bitrecs", lambda: call(live_sqlite, "POST", "/check", {}, payload))
    assert time.monotonic() - started < 10, "a YAML bomb took the server this long"


SUITE_BOMBS = {
    "deep-array": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "nan": b'[{"query": "q", "reward": NaN}]',
    "infinity": b'{"problems": [{"problem_id": "p1", "metadata": {"x": Infinity}}]}',
    "invalid-utf8": b'[{"query": "\xff"}]',
    "not-a-suite": b'"just a string"',
}


@pytest.mark.parametrize("bomb", list(SUITE_BOMBS), ids=list(SUITE_BOMBS))
def test_admin_suite_documents(live_sqlite: Live, bomb: str) -> None:
    from tests.support.signing import FERDIE

    key = f"suites/hostile-{bomb}.json"
    path = live_sqlite.blob_root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(SUITE_BOMBS[bomb])
    try:
        payload = json.dumps({"problem_suite_uri": key}).encode()
        refused(
            live_sqlite,
            "oro",
            lambda: call(live_sqlite, "POST", "/v1/admin/suites", oro_headers(FERDIE), payload),
        )
    finally:
        path.unlink()
