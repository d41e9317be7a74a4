"""Bounded types for path, query, header and body values, shared by every surface.

A value the database cannot hold (an integer beyond 64 bits, a megabyte-long "hotkey") must be refused
as a 422 before it reaches a query, and the published OpenAPI schema should say so. These aliases carry
their bounds as `annotated_types` constraints, so one alias works in a route signature (FastAPI infers
path or query from the name, or combine with `Query(...)`/`Header(...)`) and in a pydantic body model
alike, and its bounds appear in `/openapi.json`.

    async def epoch_by_id(epoch_id: Id64, hotkey: Hotkey, offset: Offset = 0) -> ...

Page sizes stay per route (`Query(ge=1, le=N)`: each peer documents its own maximum); the README's
"Abuse limits" table lists them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from annotated_types import Ge, Le, MaxLen
from pydantic import AfterValidator, BeforeValidator

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1
MAX_OFFSET = 1_000_000  # deeper pages cost the database a scan of every row skipped


def _not_bool(value: object) -> object:
    # pydantic reads JSON `true` as 1 for an int; the published schema says integer.
    if isinstance(value, bool):
        raise ValueError("expected an integer, not a boolean")
    return value


NotBool = BeforeValidator(_not_bool)

# Database ids, epoch and suite numbers: BIGINT columns, never negative.
Id64 = Annotated[int, Ge(0), Le(INT64_MAX), NotBool]
# Counters and small quantities a client reports or asks for (runs, successes, problem counts).
Count = Annotated[int, Ge(0), Le(INT32_MAX), NotBool]
# Any signed 64-bit integer the wire carries (codes, timestamps in seconds or milliseconds).
Int64 = Annotated[int, Ge(-INT64_MAX - 1), Le(INT64_MAX), NotBool]
Offset = Annotated[int, Ge(0), Le(MAX_OFFSET), NotBool]

# An SS58 address is 47-48 characters; the bound leaves room for other encodings without being a payload.
Hotkey = Annotated[str, MaxLen(64)]
# Opaque identifiers proctor issues (`job_…`, `miner_…`, lease and batch ids). Far longer than any it
# issues, so an odd id is still the surface's own "not found" (compute answers 404 for every unknown id).
Identifier = Annotated[str, MaxLen(512)]
# Free-text filters and labels (phase, status, action, provider names).
Label = Annotated[str, MaxLen(256)]
# Bearer tokens, API keys and similar credentials presented in headers.
Credential = Annotated[str, MaxLen(512)]
# A decimal amount sent as a string ("0.05"): digits, not a document.
Amount = Annotated[str, MaxLen(64)]


_NUMBER = re.compile(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*")


def _iso_only(value: object) -> object:
    # pydantic reads a bare number as Unix time; the published schema says an ISO 8601 date-time.
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an ISO 8601 date-time, not a number")
    return value


def _storable(value: datetime) -> datetime:
    # The database stores UTC: a time whose UTC value falls outside years 1–9999 (0001-01-01T00:00+14:00)
    # cannot be converted, and was a 500 found by Schemathesis.
    try:
        value.astimezone(UTC)  # as the storage layer will (a naive time is read as local time)
    except OverflowError:
        raise ValueError("date-time out of range") from None
    return value


# A date-time as the schema publishes it (ISO 8601): `since`, `until` and other time filters.
DateTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(_storable)]
