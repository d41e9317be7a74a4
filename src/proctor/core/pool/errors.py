"""The Pool domain's neutral errors (their messages are the ones Pool clients match on)."""

from __future__ import annotations

from proctor.errors import BadRequest, NotFound, ValidationFailed


class MinerBusy(BadRequest):
    code = "POOL_MINER_BUSY"
    default_message = "Miner already has active task"


class WindowLeaseUsed(BadRequest):
    code = "POOL_WINDOW_LEASE_USED"
    default_message = "Lease already issued for this window. Wait for next window."


class NothingAvailable(NotFound):
    code = "POOL_NOTHING_AVAILABLE"
    default_message = "No tasks available"


class AssignmentNotFound(NotFound):
    code = "POOL_ASSIGNMENT_NOT_FOUND"
    default_message = "Active lease assignment not found"


class InvalidSubmission(ValidationFailed):
    code = "POOL_INVALID_SUBMISSION"


class ResultNotFound(NotFound):
    code = "POOL_RESULT_NOT_FOUND"
    default_message = "Result not found"
