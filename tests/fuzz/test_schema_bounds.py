"""The published OpenAPI bounds every value a client sends, and the server holds to it.

Every integer parameter or body field has a minimum and maximum within 64 bits (signed, or unsigned
where the peer's wire is a uint64), every string a
maxLength (or an enum, or a format such as uuid that bounds it), every list a maxItems. An integer
beyond 64 bits once reached the database and answered 500; now it is a 422 before any query runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from proctor.app import create_app
from proctor.config import Settings
from tests.conftest import running_app
from tests.support.signing import ALICE, oro_headers

SURFACES = ["oro", "pool", "claims", "compute", "bitrecs"]
INT64 = 2**63
BOUNDED_FORMATS = {"uuid", "date-time", "date", "binary"}
# Infrastructure routes outside the surfaces: the blob store validates its keys itself (400).
NOT_A_SURFACE = ("/blobs/",)


def unbounded(schema: dict[str, Any], components: dict[str, Any]) -> list[str]:
    """Every place in the request side of `schema` where a client value has no bound."""
    problems: list[str] = []
    seen: set[str] = set()

    def walk(where: str, node: dict[str, Any]) -> None:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                walk(name, components[name])
            return
        branches = node.get("anyOf", []) + node.get("oneOf", []) + node.get("allOf", [])
        # pydantic's Decimal is "number or numeric string": the number carries the bounds.
        decimal = any(b.get("type") == "number" for b in branches) and any(
            b.get("type") == "string" for b in branches
        )
        for branch in branches:
            if not (decimal and branch.get("type") == "string"):
                walk(where, branch)
        kind = node.get("type")
        if kind == "integer":
            # Signed or unsigned 64 bits. FastAPI writes component bounds as floats (2**63 - 1 reads 2**63).
            if not (
                -INT64 <= node.get("minimum", -INT64 - 1) and node.get("maximum", 2 * INT64 + 1) <= 2 * INT64
            ):
                problems.append(f"{where}: integer without 64-bit bounds")
        elif kind == "string":
            if not ({"maxLength", "enum", "const"} & node.keys() or node.get("format") in BOUNDED_FORMATS):
                problems.append(f"{where}: string without maxLength")
        elif kind == "array":
            if "maxItems" not in node:
                problems.append(f"{where}: list without maxItems")
            walk(where + "[]", node.get("items", {}))
        for name, prop in node.get("properties", {}).items():
            walk(f"{where}.{name}", prop)
        if isinstance(node.get("additionalProperties"), dict):
            walk(where + "{*}", node["additionalProperties"])

    for path, item in schema["paths"].items():
        if path.startswith(NOT_A_SURFACE):
            continue
        for method, operation in item.items():
            seen.clear()
            for parameter in operation.get("parameters", []):
                walk(f"{method.upper()} {path} {parameter['in']}:{parameter['name']}", parameter["schema"])
            for media, content in operation.get("requestBody", {}).get("content", {}).items():
                walk(f"{method.upper()} {path} body ({media})", content.get("schema", {}))
    return problems


def test_every_request_value_is_bounded(make_settings: Callable[..., Settings]) -> None:
    app = create_app(make_settings(surfaces=SURFACES, claims_simulation=True))
    schema = app.openapi()
    assert len(schema["paths"]) > 100
    assert unbounded(schema, schema["components"]["schemas"]) == []


def test_the_walker_finds_what_is_unbounded() -> None:
    schema = {
        "paths": {
            "/x/{n}": {
                "get": {
                    "parameters": [
                        {"in": "path", "name": "n", "schema": {"type": "integer"}},
                        {
                            "in": "query",
                            "name": "q",
                            "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                        },
                        {"in": "query", "name": "ok", "schema": {"type": "string", "maxLength": 5}},
                    ],
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/c/B"}}}},
                }
            }
        }
    }
    components = {
        "B": {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "integer"}}}}
    }
    assert unbounded(schema, components) == [
        "GET /x/{n} path:n: integer without 64-bit bounds",
        "GET /x/{n} query:q: string without maxLength",
        "B.ids: list without maxItems",
        "B.ids[]: integer without 64-bit bounds",
    ]


BEYOND_64_BITS = str(2**64 + 1)


OUT_OF_RANGE = [
    (f"/claims/epoch/{BEYOND_64_BITS}", False),
    (f"/claims/epoch/{BEYOND_64_BITS}/tree", False),
    (f"/claims/epoch/{BEYOND_64_BITS}/proof/{ALICE.ss58_address}", False),
    (f"/claims/ledger/{BEYOND_64_BITS}", False),
    (f"/v1/public/suites/{BEYOND_64_BITS}/problems", False),
    (f"/v1/public/top/history?suite_id={BEYOND_64_BITS}", False),
    (f"/v1/public/leaderboard?suite_id={BEYOND_64_BITS}", False),
    (f"/v1/public/evaluations/pending?suite_id={BEYOND_64_BITS}", False),
    (f"/v1/public/leaderboard?offset={BEYOND_64_BITS}", False),
    (f"/v1/admin/agent-versions?suite_id={BEYOND_64_BITS}", True),
    ("/v1/public/leaderboard?suite_id=-1", False),
    (f"/claims/epoch/1/proof/{'5' * 65}", False),
]


async def test_out_of_range_values_are_a_422(make_settings: Callable[..., Settings]) -> None:
    """Each answered 500 (the value overflowed in the database) before the schema bounded it."""
    settings = make_settings(
        surfaces=SURFACES, claims_simulation=True, admin_hotkeys=[ALICE.ss58_address], run_jobs=False
    )
    async with running_app(settings) as (_app, client):
        for path, signed in OUT_OF_RANGE:
            response = await client.get(path, headers=oro_headers(ALICE) if signed else None)
            assert response.status_code == 422, (path, response.text)
            assert isinstance(response.json()["detail"], list)  # FastAPI's validation list, as each peer's
