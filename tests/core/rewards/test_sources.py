"""Score sources: the autoresearch snapshot (text, file, URL) and proctor's own ORO top policy."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from proctor.core.evaluations import flows
from proctor.core.rewards import service as epoch_service
from proctor.core.rewards.allocation import allocate
from proctor.core.rewards.errors import InvalidScores, ScoresUnavailable
from proctor.core.rewards.sources import load_scores, load_snapshot, parse_snapshot, proctor_scores
from tests.core.rewards.keys import snapshot
from tests.support.signing import ALICE, BOB
from tests.support.world import World, make_world

A, B = ALICE.ss58_address, BOB.ss58_address
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def parse(document: Any) -> Any:
    return parse_snapshot(json.dumps(document).encode(), label="t")


class TestParse:
    def test_numbers_are_exact_and_defaults_apply(self) -> None:
        text = (
            b'{"competitions": [{"miners": [{"hotkey": "a", "score": 0.1}, {"hotkey": "b", "score": "2.5"}],'
        )
        text += b' "note": "ignored"}, {"weight": 3, "enabled": false, "miners": []}], "generated_at": 1}'
        source = parse_snapshot(text, label="x")
        first, second = source.competitions
        assert Fraction(first.weight.numerator, first.weight.denominator) == 1 and first.enabled
        assert {h: Fraction(s.numerator, s.denominator) for h, s in first.scores.items()} == {
            "a": Fraction(1, 10),
            "b": Fraction(5, 2),
        }
        assert not second.enabled
        assert len(source.sha256) == 64

    @pytest.mark.parametrize(
        ("document", "message"),
        [
            (b"[1, 2]", "no `competitions` list"),
            (b"{nope", "not valid JSON"),
            (b'{"competitions": [{"miners": [{"hotkey": "a", "score": NaN}]}]}', "not valid JSON"),
            (b'{"competitions": [{"miners": [{"hotkey": "a", "score": Infinity}]}]}', "not valid JSON"),
            (
                b'{"competitions": [{"miners": [{"hotkey": "a", "score": -1}]}]}',
                "competitions[0].miners[0].score",
            ),
            (b'{"competitions": [{"miners": [{"hotkey": "a", "score": true}]}]}', "must be a number"),
            (b'{"competitions": [{"miners": [{"hotkey": "a", "score": "x"}]}]}', "must be a number"),
            (b'{"competitions": [{"miners": [{"hotkey": "a", "score": 1e999}]}]}', "out of range"),
            (
                b'{"competitions": [{"miners": [{"hotkey": "a", "score": 1}, {"hotkey": "a", "score": 2}]}]}',
                "twice",
            ),
            (b'{"competitions": [{"miners": [{"score": 1}]}]}', "hotkey must be"),
            (b'{"competitions": [{"weight": -2, "miners": []}]}', "weight must not be negative"),
            (b'{"competitions": [{"enabled": "yes", "miners": []}]}', "enabled must be"),
            (b'{"competitions": [{"miners": {"a": 1}}]}', "miners must be a list"),
        ],
    )
    def test_malformed_snapshots_are_refused_with_the_place(self, document: bytes, message: str) -> None:
        with pytest.raises(InvalidScores) as info:
            parse_snapshot(document, label="snap")
        assert message in info.value.message


class _Handler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path == "/snapshot":
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)
        else:
            self.send_response(404)
            self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def snapshot_server() -> Iterator[str]:
    _Handler.body = json.dumps(snapshot((1, {A: 1, B: 3}))).encode()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class TestLoad:
    async def test_url_and_file(self, snapshot_server: str, tmp_path: Path) -> None:
        source = await load_snapshot(f"{snapshot_server}/snapshot", max_bytes=2**20, timeout_seconds=5)
        assert allocate(400, source.competitions).amounts == {A: 100, B: 300}
        path = tmp_path / "s.json"
        path.write_bytes(_Handler.body)
        from_file = await load_snapshot(str(path), max_bytes=2**20, timeout_seconds=5)
        assert from_file.sha256 == source.sha256 and from_file.label == str(path.resolve())

    async def test_unavailable(self, snapshot_server: str, tmp_path: Path) -> None:
        for location, message in (
            (f"{snapshot_server}/missing", "HTTP 404"),
            ("http://127.0.0.1:9/snapshot", "cannot fetch"),
            (str(tmp_path / "absent.json"), "cannot read"),
        ):
            with pytest.raises(ScoresUnavailable) as info:
                await load_snapshot(location, max_bytes=2**20, timeout_seconds=5)
            assert message in info.value.message
        with pytest.raises(ScoresUnavailable) as info:
            await load_snapshot(f"{snapshot_server}/snapshot", max_bytes=10, timeout_seconds=5)
        assert "larger than" in info.value.message


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async for w in make_world(
        database_url, tmp_path, eval_required_successes=2, code_release_delay_seconds=0, top_margin=0.05
    ):
        yield w


async def test_proctor_own_scores_follow_the_top_agent(world: World) -> None:
    async with world.sessionmaker() as s:
        empty = await proctor_scores(s, margin=0.05, emission_weight=1.0)
    assert allocate(100, empty.competitions).amounts == {}
    await world.submit(B, now=T0)
    for validator in ("val-a", "val-b"):
        claim = await flows.claim_work(
            world.core, validator=validator, report=None, now=T0, base_url="http://t"
        )
        assert claim is not None
        await flows.complete_run(
            world.core,
            run_id=claim.run.id,
            validator=validator,
            status="SUCCESS",
            score=0.9,
            failure_reason=None,
            details={},
            now=T0,
        )
    async with world.transaction() as s:  # type: ignore[attr-defined]
        source = await load_scores(
            s, location="", max_bytes=1, timeout_seconds=1, margin=0.05, emission_weight=0.75
        )
        assert source.label.startswith("proctor:top")
        published = await epoch_service.publish_epoch(s, budget_units=1000, scores=source, now=T0)
    assert (published.epoch.allocated_units, published.epoch.leaf_count) == (750, 1), "the rest is burned"
