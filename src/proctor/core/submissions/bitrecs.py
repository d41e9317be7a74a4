"""Bitrecs' gate lists for the one submission pipeline: `bitrecs.check` (/check) and `bitrecs.submit`.

Reference bitrecs-and-aitbc §1.4 (the /check order) and §1.5 (the /submit order). Each gate is pure, as
ORO's are: it reads the submission (`Submission`) and the facts the flow loaded (`BitrecsFacts`) and
passes or returns a `Rejection` with Bitrecs' status and message. The flow judges the list in stretches
(`judge(start=, stop=)`) so that what is costly or consuming — the replay nonce, the gist from GitHub,
the similarity search — is loaded only once every earlier gate has passed; the order stays the list's.

Where Bitrecs answers 500 (a non-hex signature, a malformed SS58 address reaching the signature check,
GitHub or YAML failures) these gates answer 400 with a message saying what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from proctor.auth.verifier import is_valid_ss58, verify_signature
from proctor.core.bitrecs import artifact as artifacts
from proctor.core.bitrecs.gist import Gist
from proctor.core.identity.registry import Identity
from proctor.core.submissions.gates import FAMILIES, Family, Rejection

SS58_RE = re.compile(r"^5[1-9A-HJ-NP-Za-km-z]{47}$")
HEX_RE = re.compile(r"^(0[xX])?[0-9a-fA-F]+$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")


@dataclass
class Submission:
    """What the miner sent: the body and, on /submit, the transport headers."""

    created_at: str
    github_account: str
    gist_id: str
    hotkey: str
    signature: str
    x_signature: str | None = None
    x_timestamp: str | None = None
    x_nonce: str | None = None
    x_t_nonce: str | None = None
    text: str | None = None  # set by the gist gate
    artifact: artifacts.Artifact | None = None

    @property
    def preamble(self) -> str:
        return f"{self.created_at}:{self.github_account}:{self.gist_id}:{self.hotkey}"


@dataclass
class SimilarAgent:
    agent_id: str
    similarity: float


@dataclass
class BitrecsFacts:
    """What the world says, loaded by the flow; the later fields are filled between stretches."""

    now: datetime
    version: str
    skew_seconds: int
    max_bytes: int
    allowed_providers: tuple[str, ...]
    submissions_enabled: bool
    disabled_reason: str
    connected_validators: int
    min_validators: int
    recent_agents: int
    artifacts_per_interval: int
    identity: Identity
    registry_open: bool
    hotkey_used: bool
    gist_used: bool
    similarity_threshold: float
    family: str = "bitrecs.check"
    nonce_fresh: bool | None = None
    gist: Gist | None = None
    gist_error: str | None = None
    commitment: str | None = None
    similar: list[SimilarAgent] = field(default_factory=list)  # at or above the threshold
    nearest: list[SimilarAgent] = field(default_factory=list)  # the closest few, whatever their score


def _detail(gate: str, status: int, message: str, code: str) -> Rejection:
    return Rejection(gate, code, status, message)


def _error(gate: str, text: str, code: str, status: int = 400, **extra: Any) -> Rejection:
    return Rejection(gate, code, status, text, extra=extra)


# --- admission: the system, then who is asking ----------------------------------------------------


def check_enabled(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if f.submissions_enabled:
        return None
    message = f.disabled_reason or "Submissions are currently disabled. Please try again later."
    return _detail("enabled", 503, message, "SUBMISSIONS_DISABLED")


def check_validators(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if f.min_validators <= 0 or f.connected_validators >= f.min_validators:
        return None
    return _detail(
        "validators",
        503,
        f"Not enough validators available for evaluation (connected: {f.connected_validators})",
        "NOT_ENOUGH_VALIDATORS",
    )


def check_rate(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if f.recent_agents < f.artifacts_per_interval:
        return None
    return _detail(
        "rate",
        429,
        "The system is currently receiving too many agent submissions. Please try again later.",
        "TOO_MANY_SUBMISSIONS",
    )


def _signature_problem(s: Submission) -> str | None:
    if not HEX_RE.match(s.signature or ""):
        return "the signature is not hex"
    if not is_valid_ss58(s.hotkey):
        return f"hotkey {s.hotkey!r} is not a valid SS58 address"
    if not verify_signature(s.hotkey, s.preamble.encode(), s.signature):
        return ""
    return None


def check_signature(s: Submission, f: BitrecsFacts) -> Rejection | None:
    problem = _signature_problem(s)
    if problem is None:
        return None
    message = "Invalid signature for submission" + (f": {problem}" if problem else "")
    return _detail("signature", 400, message, "INVALID_SIGNATURE")


def check_submit_signature(s: Submission, f: BitrecsFacts) -> Rejection | None:
    problem = _signature_problem(s)
    if problem is None:
        return None
    message = "Invalid submission signature" + (f": {problem}" if problem else "")
    return _detail("signature", 400, message, "INVALID_SIGNATURE")


def check_ss58(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if len(s.hotkey) == 48 and SS58_RE.match(s.hotkey):
        return None
    return _detail("ss58", 400, f"Miner hotkey {s.hotkey} is not a valid format", "INVALID_HOTKEY_FORMAT")


def check_timestamp(s: Submission, f: BitrecsFacts) -> Rejection | None:
    raw = (s.x_timestamp or "").strip()
    if raw.lstrip("-").isdigit() and len(raw) <= 12 and abs(f.now.timestamp() - int(raw)) <= f.skew_seconds:
        return None
    return _detail("timestamp", 400, "Invalid or expired timestamp", "INVALID_TIMESTAMP")


def check_transport(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if not (s.x_signature and s.x_nonce and s.x_t_nonce) or not VERSION_RE.match(f.version):
        return _detail("transport", 400, "Invalid transport signature", "INVALID_TRANSPORT_SIGNATURE")
    if ":" in s.x_nonce or ":" in s.x_t_nonce or len(s.x_nonce) > 128 or len(s.x_t_nonce) > 128:
        return _detail("transport", 400, "Invalid transport signature", "INVALID_TRANSPORT_SIGNATURE")
    message = f"{s.preamble}:{s.x_nonce}:{s.x_t_nonce}:{f.version}:{(s.x_timestamp or '').strip()}"
    if is_valid_ss58(s.hotkey) and verify_signature(s.hotkey, message.encode(), s.x_signature):
        return None
    return _detail("transport", 400, "Invalid transport signature", "INVALID_TRANSPORT_SIGNATURE")


def check_nonce(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if f.nonce_fresh is not False:
        return None
    return _detail("nonce", 400, "Nonce has already been used", "NONCE_REUSED")


def check_not_validator(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if not f.identity.validator_permit:
        return None
    return _detail(
        "validator",
        400,
        "Hotkey belongs to a whitelisted validator and cannot be used for agent submission. "
        "Please register a new hotkey",
        "VALIDATOR_HOTKEY",
    )


def check_hotkey_unused(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if not f.hotkey_used:
        return None
    return _detail(
        "hotkey_used",
        400,
        "Hotkey has already been used for an agent submission. Please register a new hotkey",
        "HOTKEY_USED",
    )


def check_gist_unused(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if not f.gist_used:
        return None
    return _detail(
        "gist_used",
        400,
        "Gist has already been used for an agent submission. Please create a new gist",
        "GIST_USED",
    )


def check_not_banned(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if not f.identity.banned:
        return None
    return _detail(
        "banned",
        403,
        "Your miner hotkey has been banned for attempting to obfuscate code or otherwise cheat. "
        "If this is in error, please contact us on Discord",
        "BANNED",
    )


def check_registered(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if f.identity.registered:
        return None
    return _detail("registered", 400, "Hotkey not registered on subnet", "NOT_REGISTERED")


# --- the artifact ---------------------------------------------------------------------------------


def check_gist(s: Submission, f: BitrecsFacts) -> Rejection | None:
    """The gist was fetched and parses as an agent artifact (YAML bounded in bytes, depth, aliases)."""
    if f.gist_error is not None or f.gist is None:
        return _error("gist", f"Failed to fetch gist: {f.gist_error or 'not loaded'}", "GIST_UNAVAILABLE")
    try:
        s.text = artifacts.decode(f.gist.raw, max_bytes=f.max_bytes)
        s.artifact = artifacts.parse(artifacts.load(s.text))
    except artifacts.ArtifactError as exc:
        return _error("gist", str(exc), "INVALID_ARTIFACT")
    return None


def check_agent_id(s: Submission, f: BitrecsFacts) -> Rejection | None:
    assert s.artifact is not None
    if s.artifact.agent_id is None:
        return None
    return _error("agent_id", "agent_id must not be set by the client", "AGENT_ID_SET")


def check_template(s: Submission, f: BitrecsFacts) -> Rejection | None:
    assert s.artifact is not None and s.text is not None
    problem = artifacts.template_violation(s.artifact, s.text, allowed_providers=f.allowed_providers)
    return None if problem is None else _error("template", problem, "INVALID_TEMPLATE")


def check_created_at(s: Submission, f: BitrecsFacts) -> Rejection | None:
    assert f.gist is not None
    if s.created_at == f.gist.created_at_text:
        return None
    return _error(
        "created_at", "created_at timestamp does not match Gist creation time", "CREATED_AT_MISMATCH"
    )


def _hotkey_mismatch() -> Rejection:
    return _error(
        "hotkey_match",
        "Miner hotkey in submission does not match miner hotkey in artifact",
        "HOTKEY_MISMATCH",
    )


def check_hotkey_match_loose(s: Submission, f: BitrecsFacts) -> Rejection | None:
    """/check compares case-insensitively after stripping (as Bitrecs' /check does)."""
    assert s.artifact is not None
    same = s.artifact.miner_hotkey.strip().casefold() == s.hotkey.strip().casefold()
    return None if same else _hotkey_mismatch()


def check_hotkey_match(s: Submission, f: BitrecsFacts) -> Rejection | None:
    assert s.artifact is not None
    return None if s.artifact.miner_hotkey == s.hotkey else _hotkey_mismatch()


def check_commitment(s: Submission, f: BitrecsFacts) -> Rejection | None:
    assert f.gist is not None
    if f.registry_open:
        return None  # local play: the open registry has no chain to commit on
    if f.commitment is not None and f.commitment == f.gist.commitment:
        return None
    return _error("commitment", "Commitment to chain is not valid for this submission", "COMMITMENT_INVALID")


def check_uid(s: Submission, f: BitrecsFacts) -> Rejection | None:
    uid = f.identity.uid
    if uid is None and f.registry_open:
        return None  # local play: the open registry knows no uids
    if uid:
        return None
    return _error("uid", "Could not retrieve valid miner UID for this hotkey", "NO_MINER_UID")


def check_similarity(s: Submission, f: BitrecsFacts) -> Rejection | None:
    if not f.similar:
        return None
    return _error(
        "similar",
        "Agent is too similar to existing agents",
        "TOO_SIMILAR",
        status=409,
        message=(
            f"Your agent's templates are {f.similar[0].similarity:.4f} similar to an existing agent "
            f"(threshold {f.similarity_threshold}); make them your own"
        ),
        similar_agents=[
            {
                "agent_id": a.agent_id[:8],
                "similarity_score": round(a.similarity, 6),
                "distance": round(1 - a.similarity, 6),
            }
            for a in f.similar
        ],
        threshold=f.similarity_threshold,
    )


CHECK = Family(
    (
        ("enabled", check_enabled),
        ("validators", check_validators),
        ("rate", check_rate),
        ("signature", check_signature),
        ("ss58", check_ss58),
        ("validator", check_not_validator),
        ("hotkey_used", check_hotkey_unused),
        ("gist_used", check_gist_unused),
        ("banned", check_not_banned),
        ("registered", check_registered),
        ("gist", check_gist),
        ("agent_id", check_agent_id),
        ("template", check_template),
        ("created_at", check_created_at),
        ("hotkey_match", check_hotkey_match_loose),
        ("similar", check_similarity),
    )
)

SUBMIT = Family(
    (
        ("enabled", check_enabled),
        ("validators", check_validators),
        ("rate", check_rate),
        ("timestamp", check_timestamp),
        ("transport", check_transport),
        ("signature", check_submit_signature),
        ("nonce", check_nonce),
        ("validator", check_not_validator),
        ("gist", check_gist),
        ("agent_id", check_agent_id),
        ("template", check_template),
        ("created_at", check_created_at),
        ("hotkey_match", check_hotkey_match),
        ("hotkey_used", check_hotkey_unused),
        ("gist_used", check_gist_unused),
        ("banned", check_not_banned),
        ("registered", check_registered),
        ("commitment", check_commitment),
        ("uid", check_uid),
        ("similar", check_similarity),
    )
)

FAMILIES["bitrecs.check"] = CHECK
FAMILIES["bitrecs.submit"] = SUBMIT

# Gates whose failure Bitrecs raises as an HTTPException (`{"detail": …}`); the others it returns as a
# JSONResponse (`{"error": …}`). The surface renders accordingly.
DETAIL_GATES = frozenset(
    {
        "enabled",
        "validators",
        "rate",
        "timestamp",
        "transport",
        "signature",
        "nonce",
        "ss58",
        "validator",
        "hotkey_used",
        "gist_used",
        "banned",
        "registered",
    }
)
