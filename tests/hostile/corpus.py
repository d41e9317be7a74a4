"""The hostile-input corpus: one row per (surface, route, attack). `test_corpus.py` sends each row to a
live server and checks a 4xx in the surface's own error shape, nothing stored, the server still up.

Bodies are bytes so that a row can carry what a JSON encoder would refuse: invalid UTF-8, bare NaN and
Infinity literals, 1e309, nesting deeper than any parser's stack.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MIB = 1024 * 1024
RANDOM_ID = str(uuid.UUID(int=0x1234))


@dataclass(frozen=True)
class Case:
    id: str
    surface: str  # whose error envelope the answer must be in
    method: str
    path: str
    body: bytes | None = None
    content_type: str | None = "application/json"
    auth: str | None = (
        None  # "miner" (Bob, ORO), "validator" (Alice, ORO), "admin", "pool", "client", "compute-miner"
    )
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False  # send the body without a Content-Length
    expect: frozenset[int] | None = None  # None: any 4xx
    storage: bool = (
        False  # also run on PostgreSQL (the case reaches storage or a value PG treats differently)
    )
    audit: tuple[str, ...] = ()  # tables that record refusals by design (ORO's submission_events)


def j(value: Any) -> bytes:
    """JSON with NaN/Infinity allowed (Python's json writes them as bare literals)."""
    return json.dumps(value, allow_nan=True).encode()


def deep(depth: int, leaf: str = "1") -> bytes:
    return ("[" * depth + leaf + "]" * depth).encode()


def deep_object(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


def big_json(size: int) -> bytes:
    return j({"email": "a@example.com", "source": "x" * size})


def multipart(
    *,
    filename: bytes = b"agent.py",
    content: bytes = b"def solve(x):\n    return x\n",
    agent_name: bytes = b"hostile-agent",
    boundary: str = "hostileboundary",
) -> tuple[bytes, str]:
    b = boundary.encode()
    parts = [
        b"--" + b + b'\r\nContent-Disposition: form-data; name="agent_name"\r\n\r\n' + agent_name + b"\r\n",
        b"--"
        + b
        + b'\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: text/x-python\r\n\r\n'
        + content
        + b"\r\n",
        b"--" + b + b"--\r\n",
    ]
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def upload(case_id: str, path: str, surface: str = "oro", *, storage: bool = False, **kw: Any) -> Case:
    body, ctype = multipart(**kw)
    # A real submission attempt, refused or not, is one row of the operators' submission_events.
    audit = ("submission_events",) if path.endswith("/submit") else ()
    return Case(case_id, surface, "POST", path, body, ctype, auth="miner", storage=storage, audit=audit)


OFFER = {"name": "rig", "gpu_type": "a100", "gpu_count": 1, "price_per_hour": 1, "max_concurrent": 1}
JOB = {
    "model": "gpt2",
    "gpu_type": "a100",
    "gpu_count": 1,
    "estimated_time": 60,
    "price": 0.05,
    "payload": {},
}


def offer(**overrides: Any) -> bytes:
    return j({**OFFER, **overrides})


def job(**overrides: Any) -> bytes:
    return j({**JOB, **overrides})


def literal(template: dict[str, Any], key: str, raw: str) -> bytes:
    """`template` as JSON with `key`'s value replaced by the raw token `raw` (NaN, 1e309, -0 …)."""
    marker = "__HOSTILE__"
    return json.dumps({**template, key: marker}).replace(f'"{marker}"', raw).encode()


UNPROCESSABLE = frozenset({422})
NUMBER_EDGES = {"nan": "NaN", "inf": "Infinity", "neginf": "-Infinity", "1e309": "1e309", "neg": "-1"}
TRAVERSALS = {
    "dotdot": "../../../../etc/passwd",
    "encoded": "..%2F..%2F..%2Fetc%2Fpasswd",
    "double-encoded": "%252e%252e%252fetc%252fpasswd",
    "backslash": "..\\..\\windows\\win.ini",
    "absolute": "/etc/passwd",
}

ORO_WAITLIST = "/v1/public/waitlist"
WAITLIST = {"email": "a@example.com", "source": "landing"}

CASES: list[Case] = [
    # --- ORO: body framing and encoding (an unsigned route that stores: the waitlist) -------------
    Case("oro-body-2mib", "oro", "POST", ORO_WAITLIST, big_json(2 * MIB), expect=frozenset({413})),
    Case(
        "oro-body-2mib-chunked",
        "oro",
        "POST",
        ORO_WAITLIST,
        big_json(2 * MIB),
        chunked=True,
        expect=frozenset({413}),
    ),
    Case("oro-body-invalid-utf8", "oro", "POST", ORO_WAITLIST, b'{"email": "\xff\xfe@x.io"}'),
    Case(
        "oro-body-nul-in-string",
        "oro",
        "POST",
        ORO_WAITLIST,
        j({"email": "a\u0000@example.com"}),
        storage=True,
    ),
    Case(
        "oro-body-nul-in-source",
        "oro",
        "POST",
        ORO_WAITLIST,
        j({"email": "nul@example.com", "source": "x\u0000y"}),
        storage=True,
    ),
    Case("oro-body-nested-array", "oro", "POST", ORO_WAITLIST, deep(100_000)),
    Case("oro-body-nested-object", "oro", "POST", ORO_WAITLIST, deep_object(50_000)),
    Case(
        "oro-waitlist-email-control-char",
        "oro",
        "POST",
        ORO_WAITLIST,
        j({"email": "a\u0001b@example.com"}),
        storage=True,
    ),
    Case("oro-body-10k-list", "oro", "POST", ORO_WAITLIST, j({"email": ["a@x.io"] * 10_000})),
    Case("oro-body-nan-email", "oro", "POST", ORO_WAITLIST, literal(WAITLIST, "email", "NaN")),
    Case(
        "oro-body-not-json",
        "oro",
        "POST",
        ORO_WAITLIST,
        b"email=a@example.com",
        content_type="application/x-www-form-urlencoded",
    ),
    Case("oro-body-truncated", "oro", "POST", ORO_WAITLIST, b'{"email": "a@exa'),
    Case(
        "oro-challenge-nul-hotkey",
        "oro",
        "POST",
        "/v1/auth/challenge",
        j({"hotkey": "5G\u0000rest"}),
        storage=True,
    ),
    Case("oro-challenge-nested", "oro", "POST", "/v1/auth/challenge", deep(5_000)),
    # --- ORO: signed validator routes with hostile numbers and lists -----------------------------
    Case(
        "oro-progress-10001-problems",
        "oro",
        "POST",
        f"/v1/validator/evaluation-runs/{RANDOM_ID}/progress",
        j({"problems": [{"problem_id": RANDOM_ID, "status": "RUNNING"}] * 10_001}),
        auth="validator",
    ),
    *[
        Case(
            f"oro-complete-score-{name}",
            "oro",
            "POST",
            f"/v1/validator/evaluation-runs/{RANDOM_ID}/complete",
            literal({"terminal_status": "SUCCESS"}, "validator_score", raw),
            auth="validator",
        )
        for name, raw in NUMBER_EDGES.items()
    ],
    *[
        Case(
            f"oro-presign-length-{name}",
            "oro",
            "POST",
            "/v1/validator/uploads/presign",
            literal({"eval_run_id": RANDOM_ID, "problem_id": RANDOM_ID}, "content_length", raw),
            auth="validator",
        )
        for name, raw in {**NUMBER_EDGES, "2e64": "36893488147419103232", "negzero": "-0"}.items()
    ],
    Case(
        "oro-heartbeat-nan-cpu",
        "oro",
        "POST",
        f"/v1/validator/evaluation-runs/{RANDOM_ID}/heartbeat",
        literal({}, "cpu_pct", "NaN"),
        auth="validator",
    ),
    *[
        Case(
            f"oro-artifact-type-{name}",
            "oro",
            "POST",
            "/v1/public/artifacts/download-url",
            j({"artifact_type": value, "agent_version_id": RANDOM_ID}),
        )
        for name, value in TRAVERSALS.items()
    ],
    # --- ORO: multipart uploads (submit and the dry run) -------------------------------------------
    upload(
        "oro-submit-filename-dotdot", "/v1/miner/submit", filename=b"../../../../tmp/evil.py", storage=True
    ),
    upload("oro-submit-filename-absolute", "/v1/miner/submit", filename=b"/etc/cron.d/evil.py", storage=True),
    upload("oro-submit-filename-nul", "/v1/miner/submit", filename=b"agent\x00.py", storage=True),
    upload("oro-submit-filename-invalid-utf8", "/v1/miner/submit", filename=b"ag\xffent.py", storage=True),
    upload("oro-submit-agent-name-nul", "/v1/miner/submit", agent_name=b"evil\x00name", storage=True),
    upload(
        "oro-submit-agent-name-invalid-utf8", "/v1/miner/submit", agent_name=b"evil\xc3\x28", storage=True
    ),
    upload(
        "oro-submit-code-nul", "/v1/miner/submit", content=b"def solve(x):\x00\n    return x\n", storage=True
    ),
    upload(
        "oro-submit-code-invalid-utf8",
        "/v1/miner/submit",
        content=b"def solve(x):\n    return '\xff'\n",
        storage=True,
    ),
    upload("oro-submit-oversize", "/v1/miner/submit", content=b"#" * (2 * MIB), storage=True),
    upload("oro-check-filename-dotdot", "/v1/miner/check", filename=b"..\\..\\evil.py"),
    upload("oro-check-oversize", "/v1/miner/check", content=b"#" * (2 * MIB)),
    Case("oro-submit-not-multipart", "oro", "POST", "/v1/miner/submit", j({"file": "x"}), auth="miner"),
    Case(
        "oro-submit-lying-boundary",
        "oro",
        "POST",
        "/v1/miner/submit",
        b"--other\r\ngarbage",
        "multipart/form-data; boundary=nothere",
        auth="miner",
    ),
    # --- ORO: credentials and path-like fields ------------------------------------------------------
    *[
        Case(
            f"oro-inference-provider-{name}",
            "oro",
            "POST",
            f"/v1/miner/inference-auth/{value}",
            j({"credential": "abc"}),
            auth="miner",
        )
        for name, value in TRAVERSALS.items()
        if not value.startswith("/")
    ],
    Case(
        "oro-inference-credential-nul",
        "oro",
        "POST",
        "/v1/miner/inference-auth/chutes",
        j({"credential": "tok\u0000en"}),
        auth="miner",
        storage=True,
    ),
    Case(
        "oro-inference-credential-10k-list",
        "oro",
        "POST",
        "/v1/miner/inference-auth/chutes",
        j({"credential": ["x"] * 10_000}),
        auth="miner",
    ),
    *[
        Case(
            f"oro-admin-suite-uri-{name}",
            "oro",
            "POST",
            "/v1/admin/suites",
            j({"problem_suite_uri": value}),
            auth="admin",
            storage=True,
        )
        for name, value in {
            **TRAVERSALS,
            "file-url": "file:///etc/passwd",
            "s3-other": "s3://x/../../y",
            "nul": "suites/a\u0000b.json",
        }.items()
    ],
    # --- Pool ----------------------------------------------------------------------------------------
    Case(
        "pool-register-2mib",
        "pool",
        "POST",
        "/api/v1/miners/register",
        big_json(2 * MIB),
        auth="pool",
        expect=frozenset({413}),
    ),
    Case(
        "pool-register-invalid-utf8", "pool", "POST", "/api/v1/miners/register", b'{"x": "\xff"}', auth="pool"
    ),
    *[
        Case(
            f"pool-lease-batch-{name}",
            "pool",
            "POST",
            "/api/v1/tasks/lease",
            literal({}, "eval_batch_size", raw),
            auth="pool",
        )
        for name, raw in {**NUMBER_EDGES, "2e64": "36893488147419103232"}.items()
    ],
    Case("pool-lease-nested", "pool", "POST", "/api/v1/tasks/lease", deep_object(20_000), auth="pool"),
    *[
        Case(
            f"pool-submit-evaluation-batch-{name}",
            "pool",
            "POST",
            f"/api/v1/tasks/{value}/submit_evaluation",
            j({"evaluations": []}),
            auth="pool",
        )
        for name, value in TRAVERSALS.items()
        if not value.startswith("/")
    ],
    Case(
        "pool-submit-evaluation-10k",
        "pool",
        "POST",
        f"/api/v1/tasks/{RANDOM_ID}/submit_evaluation",
        j({"evaluations": [{"algorithm_id": 1, "score": 0.5}] * 10_000}),
        auth="pool",
    ),
    Case(
        "pool-recipient-10k-chars",
        "pool",
        "PUT",
        "/api/v1/miners/recipient-coldkey",
        j({"recipient_coldkey": "5" * 10_000}),
        auth="pool",
    ),
    Case(
        "pool-recipient-path-dotdot",
        "pool",
        "GET",
        "/api/v1/miners/recipient-coldkey/..%2F..%2Fetc",
        None,
        content_type=None,
    ),
    *[
        Case(
            f"pool-timestamp-{name}",
            "pool",
            "POST",
            "/api/v1/miners/register",
            b"{}",
            headers={"X-Timestamp": raw},
            auth="pool",
        )
        for name, raw in {
            "nan": "NaN",
            "inf": "inf",
            "1e309": "1e309",
            "negzero": "-0",
            "huge": "9" * 40,
            "float": "1700000000.5",
            "empty": "",
        }.items()
    ],
    # --- Claims --------------------------------------------------------------------------------------
    *[
        Case(
            f"claims-proof-hotkey-{name}",
            "claims",
            "GET",
            f"/claims/epoch/proof/{value}",
            None,
            content_type=None,
        )
        for name, value in {**TRAVERSALS, "nul": "5G%00x", "long": "5" * 5000}.items()
        if not value.startswith("/")
    ],
    *[
        Case(f"claims-epoch-{name}", "claims", "GET", f"/claims/epoch/{raw}", None, content_type=None)
        for name, raw in {"nan": "NaN", "inf": "inf", "1e309": "1e309", "neg": "-1", "float": "1.5"}.items()
    ],
    Case("claims-tree-dotdot", "claims", "GET", "/claims/epoch/..%2F..%2F1/tree", None, content_type=None),
    # --- Compute (documented miner API, AITBC's own protocol, clients) ----------------------------------
    Case(
        "compute-register-2mib",
        "compute",
        "POST",
        "/v1/miners",
        offer(name="x" * (2 * MIB)),
        expect=frozenset({413}),
    ),
    Case("compute-register-invalid-utf8", "compute", "POST", "/v1/miners", b'{"name": "\xff\xfe"}'),
    *[
        Case(
            f"compute-register-price-{name}",
            "compute",
            "POST",
            "/v1/miners",
            literal(OFFER, "price_per_hour", raw),
            storage=True,
        )
        for name, raw in NUMBER_EDGES.items()
    ],
    *[
        Case(
            f"compute-register-gpus-{name}",
            "compute",
            "POST",
            "/v1/miners",
            literal(OFFER, "gpu_count", raw),
            storage=True,
        )
        for name, raw in {
            "negzero": "-0",
            "2e64": "36893488147419103232",
            "float": "1.5",
            "nan": "NaN",
        }.items()
    ],
    # JSON true is not an integer (Python's bool is an int: lax validation would read it as 1).
    *[
        Case(
            f"compute-register-{fieldname}-true",
            "compute",
            "POST",
            "/v1/miners",
            literal(OFFER, fieldname, "true"),
            storage=True,
            expect=UNPROCESSABLE,
        )
        for fieldname in ("gpu_count", "max_concurrent")
    ],
    *[
        Case(
            f"compute-job-{fieldname}-true",
            "compute",
            "POST",
            "/v1/jobs",
            literal(JOB, fieldname, "true"),
            auth="client",
            storage=True,
            expect=UNPROCESSABLE,
        )
        for fieldname in ("gpu_count", "estimated_time", "ttl_seconds")
    ],
    Case(
        "compute-update-gpu-count-true",
        "compute",
        "PUT",
        "/v1/miners/{miner}",
        b'{"gpu_count": true}',
        auth="compute-miner",
        storage=True,
        expect=UNPROCESSABLE,
    ),
    *[
        Case(
            f"compute-aitbc-register-{name}-true",
            "compute",
            "POST",
            "/v1/miners/register",
            body,
            auth="compute-miner",
            storage=True,
            expect=UNPROCESSABLE,
        )
        for name, body in {
            "concurrency": b'{"concurrency": true}',
            "memory-mb": b'{"capabilities": {"gpus": [{"name": "RTX 4090", "memory_mb": true}]}}',
            "max-concurrent-jobs": b'{"capabilities": {"max_concurrent_jobs": true}}',
        }.items()
    ],
    Case(
        "compute-aitbc-poll-wait-true",
        "compute",
        "POST",
        "/v1/miners/poll",
        b'{"max_wait_seconds": true}',
        auth="compute-miner",
        expect=UNPROCESSABLE,
    ),
    Case(
        "compute-complete-seconds-true",
        "compute",
        "POST",
        f"/v1/miners/{{miner}}/jobs/{RANDOM_ID}/complete",
        b'{"result_hash": "sha256:' + b"ab" * 32 + b'", "metrics": {"execution_time_seconds": true, '
        b'"gpu_time_seconds": 1}}',
        auth="compute-miner",
        expect=UNPROCESSABLE,
    ),
    Case(
        "compute-register-name-nul", "compute", "POST", "/v1/miners", offer(name="rig\u0000x"), storage=True
    ),
    Case(
        "compute-register-location-nul",
        "compute",
        "POST",
        "/v1/miners",
        offer(location="us\u0000"),
        storage=True,
    ),
    Case("compute-register-name-10k-list", "compute", "POST", "/v1/miners", offer(name=["x"] * 10_000)),
    Case("compute-register-nested", "compute", "POST", "/v1/miners", deep_object(30_000)),
    *[
        Case(
            f"compute-job-price-{name}",
            "compute",
            "POST",
            "/v1/jobs",
            literal(JOB, "price", raw),
            auth="client",
            storage=True,
        )
        for name, raw in NUMBER_EDGES.items()
    ],
    Case(
        "compute-job-payload-nul-value",
        "compute",
        "POST",
        "/v1/jobs",
        job(payload={"prompt": "a\u0000b"}),
        auth="client",
        storage=True,
    ),
    Case(
        "compute-job-payload-nul-key",
        "compute",
        "POST",
        "/v1/jobs",
        job(payload={"a\u0000b": 1}),
        auth="client",
        storage=True,
    ),
    Case(
        "compute-job-payload-nan",
        "compute",
        "POST",
        "/v1/jobs",
        literal(JOB, "payload", '{"temperature": NaN}'),
        auth="client",
        storage=True,
    ),
    Case(
        "compute-job-payload-1e309",
        "compute",
        "POST",
        "/v1/jobs",
        literal(JOB, "payload", '{"x": 1e309}'),
        auth="client",
        storage=True,
    ),
    Case(
        "compute-job-payload-deep",
        "compute",
        "POST",
        "/v1/jobs",
        literal(JOB, "payload", deep_object(900).decode()),
        auth="client",
        storage=True,
    ),
    Case(
        "compute-job-payload-too-big",
        "compute",
        "POST",
        "/v1/jobs",
        job(payload={"p": "x" * 200_000}),
        auth="client",
        storage=True,
    ),
    Case(
        "compute-job-ttl-1e309",
        "compute",
        "POST",
        "/v1/jobs",
        literal(JOB, "ttl_seconds", "1e309"),
        auth="client",
        storage=True,
    ),
    Case(
        "compute-job-id-dotdot",
        "compute",
        "GET",
        "/v1/jobs/..%2F..%2Fetc%2Fpasswd",
        None,
        content_type=None,
        auth="client",
    ),
    Case(
        "compute-job-id-nul",
        "compute",
        "GET",
        "/v1/jobs/job%00x/result",
        None,
        content_type=None,
        auth="client",
    ),
    Case(
        "compute-aitbc-register-capabilities-nan",
        "compute",
        "POST",
        "/v1/miners/register",
        literal({"concurrency": 1}, "capabilities", '{"gpu": {"model": "a100", "memory_gb": NaN}}'),
        headers={"X-Api-Key": "miner-key-that-does-not-exist"},
    ),
    Case(
        "compute-aitbc-register-nested",
        "compute",
        "POST",
        "/v1/miners/register",
        deep_object(20_000),
        headers={"X-Api-Key": "miner-key-that-does-not-exist"},
    ),
    Case(
        "compute-heartbeat-metrics-nan",
        "compute",
        "POST",
        "/v1/miners/{miner}/heartbeat",
        literal({}, "metrics", '{"gpu_util": NaN, "temp": 1e309}'),
        auth="compute-miner",
        storage=True,
    ),
    Case(
        "compute-complete-negative-seconds",
        "compute",
        "POST",
        f"/v1/miners/{{miner}}/jobs/{RANDOM_ID}/complete",
        j(
            {
                "result_hash": "sha256:" + "ab" * 32,
                "metrics": {"execution_time_seconds": -5, "gpu_time_seconds": -1},
            }
        ),
        auth="compute-miner",
        storage=True,
    ),
    Case(
        "compute-complete-nan-seconds",
        "compute",
        "POST",
        f"/v1/miners/{{miner}}/jobs/{RANDOM_ID}/complete",
        literal(
            {"result_hash": "sha256:" + "ab" * 32},
            "metrics",
            '{"execution_time_seconds": NaN, "gpu_time_seconds": Infinity}',
        ),
        auth="compute-miner",
        storage=True,
    ),
    # --- Bitrecs ------------------------------------------------------------------------------------------
    Case("bitrecs-check-2mib", "bitrecs", "POST", "/check", big_json(2 * MIB), expect=frozenset({413})),
    Case("bitrecs-check-invalid-utf8", "bitrecs", "POST", "/check", b'{"gist_id": "\xff"}'),
    Case("bitrecs-check-nested", "bitrecs", "POST", "/check", deep(100_000)),
    *[
        Case(
            f"bitrecs-check-{fieldname}-{name}",
            "bitrecs",
            "POST",
            "/check",
            j(
                {
                    "created_at": "2026-01-01T00:00:00+00:00",
                    "github_account": "acct",
                    "gist_id": "a" * 32,
                    "hotkey": "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty",
                    "signature": "00",
                    fieldname: value,
                }
            ),
            storage=True,
        )
        for fieldname in ("gist_id", "github_account")
        for name, value in {"dotdot": "../../../etc", "nul": "ab\u0000cd", "slash": "a/b?c#d"}.items()
    ],
    Case(
        "bitrecs-screener-password-nul",
        "bitrecs",
        "POST",
        "/validator/register-as-screener",
        j({"name": "s\u0000", "password": "p\u0000"}),
        storage=True,
    ),
    *[
        Case(
            f"bitrecs-register-validator-ts-{name}",
            "bitrecs",
            "POST",
            "/validator/register-as-validator",
            literal(
                {"hotkey": "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", "signed_timestamp": "00"},
                "timestamp",
                raw,
            ),
            storage=True,
        )
        for name, raw in {**NUMBER_EDGES, "2e64": "36893488147419103232"}.items()
    ],
    # --- Local blob store routes ----------------------------------------------------------------------
    *[
        Case(
            f"blobs-get-{name}",
            "blobs",
            "GET",
            f"/blobs/{value}?expires=9999999999&sig={'0' * 64}",
            None,
            content_type=None,
        )
        for name, value in {
            **TRAVERSALS,
            "dot-segment": "sha256/./ab",
            "tilde": "sha256/ab~type",
            "nul": "sha256/a%00b",
        }.items()
        if not value.startswith("/")
    ],
    Case(
        "blobs-put-dotdot",
        "blobs",
        "PUT",
        "/blobs/..%2Fescape?expires=9999999999&max=3&ct=x&sig=" + "0" * 64,
        b"abc",
        content_type="x",
    ),
]


def ids() -> list[str]:
    seen: set[str] = set()
    for case in CASES:
        assert case.id not in seen, f"duplicate case id {case.id}"
        seen.add(case.id)
    return [c.id for c in CASES]


Builder = Callable[..., Any]
