"""Which queued jobs a miner can run. Pure: plain values in, a verdict out (no session, no clock).

A miner can run a job when
- the GPU type matches (case-insensitive; a job without a GPU type runs on any),
- the miner has at least the GPUs the job asks for,
- the job pays at least the miner's hourly ask for the estimated time:
  `price ≥ price_per_hour × estimated_time / 3600`, compared exactly in integer micro-units as
  `price × 3600 ≥ price_per_hour × estimated_time`,
- the miner has a free slot under `max_concurrent`,
- the miner has not attempted this job before (a retry goes to somebody else).

`ComputeRepository.available_query` is the SQL twin of `mismatch` for listing; a test checks that the
two agree.
"""

from __future__ import annotations

from dataclasses import dataclass

SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class Offer:
    gpu_type: str
    gpu_count: int
    price_per_hour_micro: int
    max_concurrent: int
    region: str | None = None
    memory_mb: int | None = None
    models: str | None = None  # `models_text(…)`


@dataclass(frozen=True)
class Requirement:
    gpu_type: str | None
    gpu_count: int
    estimated_time: int  # seconds
    price_micro: int
    # AITBC's constraints (None: anything goes)
    region: str | None = None
    min_vram_mb: int | None = None
    max_price_micro: int | None = None
    models: tuple[str, ...] = ()


def models_text(models: tuple[str, ...] | list[str]) -> str:
    """A miner's models as one text, each wrapped in bars, sorted: ("b", "a") → "|a||b|"."""
    return "".join(f"|{m}|" for m in sorted(set(models)))


def model_pattern(models: tuple[str, ...] | list[str]) -> str:
    r"""A LIKE pattern (escape `\`) matching `models_text` of every model list holding all of `models`.

    Both sides are sorted, so "all of them" is "each in order": `%|a|%|b|%` over "|a||b||c|".
    """
    escaped = [m.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") for m in sorted(set(models))]
    return "%" + "%".join(f"|{m}|" for m in escaped) + "%"


def normalize_gpu_type(value: str) -> str:
    """The comparable form of a GPU type name ("  A100 " and "a100" are the same GPU)."""
    return " ".join(value.split()).lower()


def pays_enough(offer: Offer, job: Requirement) -> bool:
    """Does the job's price cover the miner's hourly ask for the job's estimated time?"""
    return job.price_micro * SECONDS_PER_HOUR >= offer.price_per_hour_micro * job.estimated_time


def minimum_price_micro(price_per_hour_micro: int, estimated_time: int) -> int:
    """The smallest job price (µ, rounded up) that satisfies an hourly ask for `estimated_time` seconds."""
    return -(-price_per_hour_micro * estimated_time // SECONDS_PER_HOUR)


def mismatch(offer: Offer, job: Requirement) -> str | None:
    """Why the miner cannot run the job, or None when it can (capacity and history are checked apart)."""
    if job.gpu_type is not None and normalize_gpu_type(job.gpu_type) != normalize_gpu_type(offer.gpu_type):
        return f"the job needs GPU type {job.gpu_type!r}, this miner offers {offer.gpu_type!r}"
    if job.gpu_count > offer.gpu_count:
        return f"the job needs {job.gpu_count} GPUs, this miner offers {offer.gpu_count}"
    if not pays_enough(offer, job):
        return "the job's price is below this miner's price_per_hour for its estimated_time"
    if job.region is not None and job.region != offer.region:
        return f"the job needs region {job.region!r}, this miner is in {offer.region!r}"
    if job.min_vram_mb is not None and (offer.memory_mb or 0) < job.min_vram_mb:
        return f"the job needs a GPU with {job.min_vram_mb} MB of memory"
    if job.max_price_micro is not None and offer.price_per_hour_micro > job.max_price_micro:
        return "this miner's price is above the job's max_price"
    held = set((offer.models or "|").strip("|").split("||")) if offer.models else set()
    if not set(job.models) <= held:
        return f"the job needs models {sorted(job.models)}"
    return None


def free_slots(offer: Offer, running: int) -> int:
    """How many more jobs the miner may hold (never negative, even after max_concurrent was lowered)."""
    return max(0, offer.max_concurrent - running)
