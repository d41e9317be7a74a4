"""ORM models. Importing this package registers every table on `Base.metadata` (Alembic needs that)."""

from proctor.models.agents import Agent, AgentVersion, MinerCooldown, SubmissionEvent
from proctor.models.credentials import InferenceCredential, InferencePreference
from proctor.models.evaluations import EvaluationRun, RunProblemResult, TopHistory, ValidatorState, WorkItem
from proctor.models.identity import AuthSession, HotkeyBan, HotkeyGrant
from proctor.models.suites import Problem, Suite
from proctor.storage.base import Base

__all__ = [
    "Agent",
    "AgentVersion",
    "AuthSession",
    "Base",
    "EvaluationRun",
    "HotkeyBan",
    "HotkeyGrant",
    "InferenceCredential",
    "InferencePreference",
    "MinerCooldown",
    "Problem",
    "RunProblemResult",
    "SubmissionEvent",
    "Suite",
    "TopHistory",
    "ValidatorState",
    "WorkItem",
]
