"""The submission gate pipeline (pure).

A submission is judged by an ordered list of small gates. Each gate looks at the candidate (the bytes
and names a miner sent) and at the facts the service loaded beforehand (identity, active suite,
cooldown, duplicates, the suite's answers) and either passes or returns a typed `Rejection`. Nothing
here touches the database, the clock or the network, so the same pipeline serves a real submission,
a dry run (`/check`), and any surface that gates uploads (ORO, Bitrecs-style).

Rejections carry what the caller needs to answer in its peer's shape: an error code, an HTTP status,
a message, extra wire fields, and the cooldown the rejection costs (none, reduced, full).
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from proctor.core.identity.registry import Identity
from proctor.core.submissions import codecheck

NAME_RE = re.compile(r"^[A-Za-z0-9 _.\-]{1,100}$")
ENTRYPOINT = "agent_main"


class CooldownCost(StrEnum):
    NONE = "none"
    REDUCED = "reduced"  # a security violation: fix it and come back soon
    FULL = "full"  # an accepted submission, or an integrity violation


@dataclass(frozen=True)
class Rejection:
    gate: str
    code: str
    status: int
    message: str
    admission_reason: str | None = None  # when the peer reports it as a 200 REJECTED
    cooldown: CooldownCost = CooldownCost.NONE
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    max_bytes: int = 1024 * 1024
    cooldown_seconds: int = 12 * 3600
    reduced_cooldown_seconds: int = 15 * 60


@dataclass
class Candidate:
    """What the miner sent, plus what the gates derive from it on the way."""

    hotkey: str
    agent_name: str | None
    filename: str | None
    content: bytes | None
    oversized: bool = False
    text: str | None = None
    tree: ast.Module | None = None
    report: codecheck.Report | None = None

    @functools.cached_property  # asked for by several steps; a megabyte hashes in milliseconds, once
    def sha256(self) -> str | None:
        return hashlib.sha256(self.content).hexdigest() if self.content is not None else None

    @property
    def clean_name(self) -> str:
        return (self.agent_name or "").strip()


@dataclass(frozen=True)
class Facts:
    """What the world says about this submission, loaded by the service before judging."""

    identity: Identity
    suite_id: int | None
    next_allowed_at: datetime | None
    duplicate_of: uuid.UUID | None
    duplicate_is_own: bool
    answers: frozenset[str]
    now: datetime
    policy: Policy
    paused: str | None = None  # the operator's message while submissions are paused (None: open)


Gate = Callable[[Candidate, Facts], Rejection | None]


def _invalid_file(gate: str, message: str) -> Rejection:
    return Rejection(gate, "INVALID_FILE", 400, message, admission_reason="INVALID_FILE")


def check_name(c: Candidate, f: Facts) -> Rejection | None:
    """Letters, digits, spaces, '-', '_' and '.', 1-100 characters."""
    if NAME_RE.fullmatch(c.clean_name):
        return None
    if c.oversized and c.agent_name is None:
        return None  # the body was refused for its size before the name was read: say that, not this
    return Rejection(
        "name",
        "INVALID_AGENT_NAME",
        400,
        "Agent name must be 1-100 characters of letters, digits, spaces, '-', '_' or '.'",
    )


def check_size(c: Candidate, f: Facts) -> Rejection | None:
    if c.content is None and not c.oversized:
        return _invalid_file("size", "No agent file was uploaded (multipart field 'file')")
    if c.oversized or (c.content is not None and len(c.content) > f.policy.max_bytes):
        limit = f.policy.max_bytes
        return Rejection("size", "FILE_TOO_LARGE", 413, f"Agent file exceeds the {limit} byte limit")
    if not c.content:
        return _invalid_file("size", "The agent file is empty")
    return None


def check_encoding(c: Candidate, f: Facts) -> Rejection | None:
    """UTF-8 text without NUL bytes (a leading byte-order mark is tolerated)."""
    assert c.content is not None
    try:
        text = c.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _invalid_file("encoding", f"The agent file is not valid UTF-8 (byte {exc.start})")
    if "\x00" in text:
        return _invalid_file("encoding", "The agent file contains NUL bytes")
    c.text = text.removeprefix("\ufeff")
    return None


def check_syntax(c: Candidate, f: Facts) -> Rejection | None:
    assert c.text is not None
    try:
        c.tree = ast.parse(c.text, filename=c.filename or "agent.py")
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return _invalid_file("syntax", f"The agent file does not parse: {exc.msg}{where}")
    except (ValueError, RecursionError, MemoryError):
        return _invalid_file("syntax", "The agent file cannot be parsed (too deeply nested)")
    return None


def check_entrypoint(c: Candidate, f: Facts) -> Rejection | None:
    """A module-level `def agent_main(problem_data)`."""
    assert c.tree is not None
    for node in c.tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == ENTRYPOINT:
            if node.args.args or node.args.posonlyargs or node.args.vararg:
                return None
            return _invalid_file("entrypoint", f"{ENTRYPOINT}() must accept the problem data argument")
    return _invalid_file(
        "entrypoint", f"The agent file must define {ENTRYPOINT}(problem_data) at module level"
    )


def check_code(c: Candidate, f: Facts) -> Rejection | None:
    """Static analysis: security and integrity findings reject; flags are kept for review."""
    assert c.tree is not None
    c.report = codecheck.analyze(c.tree, forbidden_literals=f.answers or None)
    violations = c.report.violations
    if not violations:
        return None
    cost = CooldownCost.FULL if c.report.has_integrity else CooldownCost.REDUCED
    first = violations[0]
    more = f" (+{len(violations) - 1} more)" if len(violations) > 1 else ""
    return Rejection(
        "code",
        "CODE_ANALYSIS_ERROR",
        422,
        f"Code analysis failed: line {first.line}: {first.rule} — {first.message}{more}",
        cooldown=cost,
        extra={"violations": [v.to_wire() for v in violations]},
    )


def check_open(c: Candidate, f: Facts) -> Rejection | None:
    """The operator's submissions pause (`proctor submissions pause`): 503 SUBMISSIONS_PAUSED, no cost."""
    if f.paused is None:
        return None
    return Rejection("open", "SUBMISSIONS_PAUSED", 503, f.paused)


def check_registration(c: Candidate, f: Facts) -> Rejection | None:
    if f.identity.registered:
        return None
    return Rejection(
        "registration",
        "NOT_REGISTERED",
        200,
        "Hotkey is not registered on the subnet",
        admission_reason="NOT_REGISTERED_ONCHAIN",
    )


def check_ban(c: Candidate, f: Facts) -> Rejection | None:
    if not f.identity.banned:
        return None
    return Rejection("ban", "BANNED", 200, "Hotkey is banned", admission_reason="BANNED")


def check_suite(c: Candidate, f: Facts) -> Rejection | None:
    if f.suite_id is not None:
        return None
    return Rejection(
        "suite",
        "NO_ACTIVE_SUITE",
        503,
        "No active suite: submissions are closed",
        admission_reason="NO_ACTIVE_SUITE",
    )


def check_cooldown(c: Candidate, f: Facts) -> Rejection | None:
    if f.next_allowed_at is None or f.next_allowed_at <= f.now:
        return None
    return cooldown_rejection(f.next_allowed_at, f.now)


def cooldown_rejection(next_allowed_at: datetime, now: datetime) -> Rejection:
    remaining = max(1, int((next_allowed_at - now).total_seconds() + 0.999))
    return Rejection(
        "cooldown",
        "COOLDOWN_ACTIVE",
        429,
        f"Submission cooldown active: next submission allowed at {next_allowed_at.isoformat()}",
        admission_reason="COOLDOWN",
        extra={"remaining_seconds": remaining, "next_allowed_at": next_allowed_at.isoformat()},
    )


def check_duplicate(c: Candidate, f: Facts) -> Rejection | None:
    if f.duplicate_of is None:
        return None
    whose = f"your agent version {f.duplicate_of}" if f.duplicate_is_own else "an existing submission"
    return _invalid_file("duplicate", f"This file is byte-for-byte identical to {whose}")


# The order is the contract: cheap structural checks first, then the code, then who may submit.
PIPELINE: tuple[tuple[str, Gate], ...] = (
    ("open", check_open),  # first: /submit refuses a pause before it reads the body at all
    ("name", check_name),
    ("size", check_size),
    ("encoding", check_encoding),
    ("syntax", check_syntax),
    ("entrypoint", check_entrypoint),
    ("code", check_code),
    ("registration", check_registration),
    ("ban", check_ban),
    ("suite", check_suite),
    ("cooldown", check_cooldown),
    ("duplicate", check_duplicate),
)
# Gates that need what an earlier gate produced; when that one failed they cannot run.
NEEDS = {"encoding": "size", "syntax": "encoding", "entrypoint": "syntax", "code": "syntax"}


@dataclass(frozen=True)
class GateResult:
    gate: str
    outcome: str  # "passed" | "rejected" | "skipped"
    rejection: Rejection | None = None

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"gate": self.gate, "outcome": self.outcome}
        if self.rejection:
            body.update(code=self.rejection.code, message=self.rejection.message)
        return body


@dataclass(frozen=True)
class Verdict:
    results: tuple[GateResult, ...]
    flags: tuple[codecheck.Finding, ...]

    @property
    def rejection(self) -> Rejection | None:
        """The first failing gate decides the answer."""
        return next((r.rejection for r in self.results if r.rejection), None)

    @property
    def cooldown(self) -> CooldownCost:
        """What this attempt costs: the deciding rejection's cost, or a full cooldown when accepted."""
        rejection = self.rejection
        return rejection.cooldown if rejection else CooldownCost.FULL


def judge(
    candidate: Any,
    facts: Any,
    *,
    exhaustive: bool = False,
    family: str = "oro",
    start: str | None = None,
    stop: str | None = None,
) -> Verdict:
    """Run a family's pipeline; stop at the first rejection unless `exhaustive` (the dry run reports all).

    `start`/`stop` run one stretch of the list (from gate `start`, up to but not including `stop`), so a
    flow can load the facts a later gate needs (a gist from GitHub, a replay nonce) only once every
    earlier gate has passed, and still judge in the family's one order.
    """
    chosen = family_of(family)
    pipeline = chosen.stretch(start, stop)
    results: list[GateResult] = []
    failed: set[str] = set()
    for name, gate in pipeline:
        if chosen.needs.get(name) in failed:
            failed.add(name)  # so whatever needs this gate is skipped too
            results.append(GateResult(name, "skipped"))
            continue
        rejection = gate(candidate, facts)
        if rejection is None:
            results.append(GateResult(name, "passed"))
            continue
        failed.add(name)
        results.append(GateResult(name, "rejected", rejection))
        if not exhaustive:
            break
    report = getattr(candidate, "report", None)
    flags = report.flags if report else ()
    return Verdict(tuple(results), tuple(flags))


@dataclass(frozen=True)
class Family:
    """One surface family's ordered gates (the order is its peer's contract)."""

    pipeline: tuple[tuple[str, Callable[[Any, Any], Rejection | None]], ...]
    needs: Mapping[str, str] = field(default_factory=dict)

    def stretch(self, start: str | None, stop: str | None) -> tuple[tuple[str, Any], ...]:
        names = [name for name, _ in self.pipeline]
        first = names.index(start) if start else 0
        last = names.index(stop) if stop else len(names)
        return self.pipeline[first:last]


# Every family's gate list, by name. ORO's is above; others register from their own module in this
# package (`proctor.core.submissions.<family prefix>`), imported on first use (also in gate workers).
FAMILIES: dict[str, Family] = {"oro": Family(PIPELINE, NEEDS)}


def family_of(name: str) -> Family:
    found = FAMILIES.get(name)
    if found is None:
        importlib.import_module(f"proctor.core.submissions.{name.split('.', 1)[0]}")
        found = FAMILIES[name]
    return found
