"""What a validator reads to set weights after a race, over the public ORO routes (reference oro-api §7.4):
`GET /v1/public/races/history?limit=5` → the first race with status `RACE_COMPLETE` →
`GET /v1/public/races/{race_id}` → its qualifiers with a `race_score` and a `miner_hotkey` are the
finishers. The burn share is what `GET /v1/public/top` leaves to the top miner (`1 - emission_weight`)
unless the caller gives one. The split itself is `proctor.core.races.weights`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from proctor.core.races.weights import Finisher, Share, split

HISTORY_LIMIT = 5


@dataclass(frozen=True)
class RaceWeights:
    race: dict[str, Any] | None  # the completed race read (None: no race completed yet; skip the tick)
    burn: float
    shares: list[Share]


def finishers(qualifiers: list[dict[str, Any]]) -> list[Finisher]:
    return [
        Finisher(str(q["miner_hotkey"]), str(q["agent_version_id"]), float(q["race_score"]))
        for q in qualifiers
        if isinstance(q.get("race_score"), int | float) and isinstance(q.get("miner_hotkey"), str)
    ]


def burn_share(http: httpx.Client) -> float:
    answer = http.get("/v1/public/top")
    answer.raise_for_status()
    emission = answer.json().get("emission_weight")
    return 1.0 - float(emission) if isinstance(emission, int | float) else 0.0


def read(http: httpx.Client, *, burn: float | None = None) -> RaceWeights:
    """The weights a validator would set now, read the way ORO's weight setter reads them."""
    history = http.get("/v1/public/races/history", params={"limit": HISTORY_LIMIT})
    history.raise_for_status()
    complete = next((r for r in history.json().get("races", []) if r.get("status") == "RACE_COMPLETE"), None)
    share = burn_share(http) if burn is None else burn
    if complete is None:
        return RaceWeights(None, share, [])
    detail = http.get(f"/v1/public/races/{complete['race_id']}")
    detail.raise_for_status()
    body = detail.json()
    return RaceWeights(body["race"], share, split(finishers(body.get("qualifiers") or []), burn=share))
