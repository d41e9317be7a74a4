"""ORM models. Importing this package registers every table on `Base.metadata` (Alembic needs that)."""

from proctor.models.identity import AuthSession, HotkeyBan, HotkeyGrant
from proctor.models.suites import Problem, Suite
from proctor.storage.base import Base

__all__ = ["AuthSession", "Base", "HotkeyBan", "HotkeyGrant", "Problem", "Suite"]
