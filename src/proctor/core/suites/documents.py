"""Suite files, parsed and normalised (pure).

Two formats are accepted:
- ORO's own: a JSON list of problem objects (`query`, `reward`, `category`, `difficulty`, `title`, …),
  as in ORO's `data/suites/problem_suite_v3.json`. Problems carry no ids there, so each gets a stable
  UUIDv5 derived from its canonical content: re-importing the same problem always yields the same id.
- proctor's generic form: `{"problems": [{"problem_id": "...", "metadata": {...}}], "name"?: str}`.
  A `problem_id` that is not a UUID is kept as `external_id` and mapped to a UUIDv5 of itself (ORO
  clients parse problem ids as UUIDs).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from proctor.errors import ValidationFailed

PROBLEM_NAMESPACE = uuid.UUID("5d1c6a52-3f0e-4b8e-9a51-70726f63746f")
MAX_PROBLEMS = 100_000
# Keys that hold the answer a validator scores against: never in public payloads unless made public.
DEFAULT_HIDDEN_FIELDS = (
    "reward",
    "voucher",
    "reward_title_embeddings",
    "ground_truth",
    "answer",
    "answers",
    "expected",
    "expected_output",
    "solution",
)
EMBEDDINGS_FIELD = "reward_title_embeddings"


@dataclass(frozen=True)
class ParsedProblem:
    problem_id: uuid.UUID
    external_id: str | None
    category: str | None
    metadata: dict[str, Any]


@dataclass(frozen=True)
class ParsedSuite:
    format: str  # "oro" | "generic"
    name: str | None
    problems: tuple[ParsedProblem, ...]
    content_sha256: str


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_suite_json(data: bytes | str) -> Any:
    """A suite file's JSON, strictly: UTF-8, no NaN/Infinity (canonical ids and PostgreSQL's jsonb need
    real JSON), and no nesting deep enough to exhaust the parser's stack (ValidationFailed)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        return json.loads(text, parse_constant=_not_a_number)
    except UnicodeDecodeError:
        raise ValidationFailed("the suite document is not UTF-8") from None
    except RecursionError:
        raise ValidationFailed("the suite document is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError included
        raise ValidationFailed(f"the suite document is not valid JSON: {exc}") from None


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def parse_suite_document(document: Any) -> ParsedSuite:
    """Validate a decoded suite file and give every problem its id."""
    if isinstance(document, list):
        fmt, name, problems = "oro", None, [_oro_problem(p, i) for i, p in enumerate(document)]
    elif isinstance(document, dict) and isinstance(document.get("problems"), list):
        fmt, name = "generic", document.get("name")
        if name is not None and not isinstance(name, str):
            raise ValidationFailed("'name' must be a string")
        problems = [_generic_problem(p, i) for i, p in enumerate(document["problems"])]
    else:
        raise ValidationFailed('a suite file is a JSON list of problems (ORO format) or {"problems": [...]}')
    if not problems:
        raise ValidationFailed("a suite needs at least one problem")
    if len(problems) > MAX_PROBLEMS:
        raise ValidationFailed(f"a suite holds at most {MAX_PROBLEMS} problems")
    _reject_duplicates(problems)
    digest = hashlib.sha256(canonical_json([[str(p.problem_id), p.metadata] for p in problems])).hexdigest()
    return ParsedSuite(format=fmt, name=name, problems=tuple(problems), content_sha256=digest)


def _oro_problem(raw: Any, index: int) -> ParsedProblem:
    if not isinstance(raw, dict) or not raw:
        raise ValidationFailed(f"problem {index}: each problem must be a non-empty JSON object")
    explicit = raw.get("problem_id")
    if explicit is not None:
        problem_id, external = _problem_id(explicit, index)
    else:
        problem_id = uuid.uuid5(PROBLEM_NAMESPACE, hashlib.sha256(canonical_json(raw)).hexdigest())
        external = None
    metadata = {k: v for k, v in raw.items() if k != "problem_id"}
    return ParsedProblem(problem_id, external, _category(metadata), metadata)


def _generic_problem(raw: Any, index: int) -> ParsedProblem:
    if not isinstance(raw, dict) or "problem_id" not in raw:
        raise ValidationFailed(f"problem {index}: needs a 'problem_id'")
    metadata = raw.get("metadata", {})
    if not isinstance(metadata, dict):
        raise ValidationFailed(f"problem {index}: 'metadata' must be a JSON object")
    problem_id, external = _problem_id(raw["problem_id"], index)
    return ParsedProblem(problem_id, external, _category(metadata), metadata)


def _problem_id(value: Any, index: int) -> tuple[uuid.UUID, str | None]:
    if not isinstance(value, str | int) or str(value).strip() == "":
        raise ValidationFailed(f"problem {index}: 'problem_id' must be a non-empty string")
    text = str(value).strip()
    if len(text) > 200:
        raise ValidationFailed(f"problem {index}: 'problem_id' is longer than 200 characters")
    try:
        return uuid.UUID(text), None
    except ValueError:
        return uuid.uuid5(PROBLEM_NAMESPACE, text), text


def _category(metadata: dict[str, Any]) -> str | None:
    category = metadata.get("category")
    return category[:100] if isinstance(category, str) else None


def _reject_duplicates(problems: list[ParsedProblem]) -> None:
    seen: dict[uuid.UUID, int] = {}
    for index, problem in enumerate(problems):
        if problem.problem_id in seen:
            raise ValidationFailed(
                f"problem {index} duplicates problem {seen[problem.problem_id]} (same id or same content)"
            )
        seen[problem.problem_id] = index


def public_metadata(
    metadata: dict[str, Any], hidden_fields: list[str] | tuple[str, ...], *, include_embeddings: bool
) -> dict[str, Any]:
    """A problem's metadata as anyone may see it: hidden fields removed, embeddings on request."""
    hidden = set(hidden_fields)
    if not include_embeddings:
        hidden.add(EMBEDDINGS_FIELD)
    return {k: v for k, v in metadata.items() if k not in hidden}
