"""ORM models. Importing this package registers every table on `Base.metadata` (Alembic needs that)."""

from proctor.models.agents import Agent, AgentVersion, MinerCooldown, SubmissionEvent
from proctor.models.compute import ComputeAssignment, ComputeClient, ComputeEarning, ComputeJob, ComputeMiner
from proctor.models.credentials import InferenceCredential, InferencePreference
from proctor.models.evaluations import EvaluationRun, RunProblemResult, TopHistory, ValidatorState, WorkItem
from proctor.models.identity import AuthSession, HotkeyBan, HotkeyGrant
from proctor.models.races import Race, RaceElimination, RaceProblem, RaceQualifier, RaceSelection
from proctor.models.rewards import (
    RecipientColdkey,
    RecipientColdkeyChange,
    RewardClaim,
    RewardEpoch,
    RewardLeaf,
)
from proctor.models.suites import Problem, Suite
from proctor.storage.base import Base

__all__ = [
    "Agent",
    "AgentVersion",
    "AuthSession",
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
    "Suite",
    "TopHistory",
    "ValidatorState",
    "WorkItem",
]
