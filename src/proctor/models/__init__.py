"""ORM models. Importing this package registers every table on `Base.metadata` (Alembic needs that)."""

from proctor.models.admin import AgentVersionElimination, AuditEvent, ValidatorPause, ValidatorSetting
from proctor.models.agents import Agent, AgentVersion, MinerCooldown, SubmissionEvent
from proctor.models.bitrecs import (
    BitrecsAgent,
    BitrecsApiKey,
    BitrecsEvaluation,
    BitrecsEvaluationRun,
    BitrecsSession,
    SystemFlag,
)
from proctor.models.compute import ComputeAssignment, ComputeClient, ComputeEarning, ComputeJob, ComputeMiner
from proctor.models.credentials import InferenceCredential, InferencePreference
from proctor.models.evaluations import EvaluationRun, RunProblemResult, TopHistory, ValidatorState, WorkItem
from proctor.models.identity import AuthSession, HotkeyBan, HotkeyGrant
from proctor.models.pool import (
    PoolAlgorithm,
    PoolAssignment,
    PoolBatch,
    PoolEvaluation,
    PoolMiner,
    PoolWindow,
    PoolWindowPoints,
)
from proctor.models.races import Race, RaceElimination, RaceProblem, RaceQualifier, RaceSelection
from proctor.models.rewards import (
    RecipientColdkey,
    RecipientColdkeyChange,
    RewardClaim,
    RewardEpoch,
    RewardLeaf,
)
from proctor.models.subnet import WaitlistSignup
from proctor.models.suites import Problem, Suite
from proctor.storage.base import Base

__all__ = [
    "Agent",
    "AgentVersionElimination",
    "AuditEvent",
    "ValidatorPause",
    "ValidatorSetting",
    "AgentVersion",
    "AuthSession",
    "BitrecsAgent",
    "BitrecsApiKey",
    "BitrecsEvaluation",
    "BitrecsEvaluationRun",
    "BitrecsSession",
    "Base",
    "ComputeAssignment",
    "ComputeClient",
    "ComputeEarning",
    "ComputeJob",
    "ComputeMiner",
    "EvaluationRun",
    "HotkeyBan",
    "HotkeyGrant",
    "InferenceCredential",
    "InferencePreference",
    "MinerCooldown",
    "PoolAlgorithm",
    "PoolAssignment",
    "PoolBatch",
    "PoolEvaluation",
    "PoolMiner",
    "PoolWindow",
    "PoolWindowPoints",
    "Problem",
    "Race",
    "RaceElimination",
    "RaceProblem",
    "RaceQualifier",
    "RaceSelection",
    "RecipientColdkey",
    "RecipientColdkeyChange",
    "RewardClaim",
    "RewardEpoch",
    "RewardLeaf",
    "RunProblemResult",
    "SubmissionEvent",
    "SystemFlag",
    "Suite",
    "TopHistory",
    "ValidatorState",
    "WaitlistSignup",
    "WorkItem",
]
