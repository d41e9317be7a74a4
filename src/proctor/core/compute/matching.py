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


@dataclass(frozen=True)
class Requirement:
    gpu_type: str | None
    gpu_count: int
    estimated_time: int  # seconds
    price_micro: int


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
    return None


def free_slots(offer: Offer, running: int) -> int:
    """How many more jobs the miner may hold (never negative, even after max_concurrent was lowered)."""
    return max(0, offer.max_concurrent - running)
