"""A Bitrecs agent artifact: the gist's YAML, parsed safely, and Bitrecs' template rules (pure).

Reference bitrecs-and-aitbc §1.6. The YAML is loaded with `safe_load` semantics plus limits Bitrecs does
not have: a byte cap (checked before parsing), a nesting depth and an alias count (a "billion laughs"
document is refused while it is being composed, not after it was expanded). The template rules run in
Bitrecs' order with Bitrecs' messages; token limits count `o200k_base` tokens with an encoder that
ships inside its wheel (no download at run time).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import yaml
from jinja2 import Environment, TemplateSyntaxError, nodes

MAX_SYSTEM_PROMPT_TOKENS = 5_000
MAX_PROMPT_TOKENS = 10_000
MAX_FEWSHOT = 64
MAX_FEWSHOT_CHARS = 8192
MAX_DEPTH = 20
MAX_ALIASES = 20

PROVIDERS = (
    "OLLAMA_LOCAL",
    "OPEN_ROUTER",
    "CHAT_GPT",
    "VLLM",
    "GEMINI",
    "GROK",
    "CLAUDE",
    "CHUTES",
    "CEREBRAS",
    "GROQ",
    "NVIDIA",
    "PERPLEXITY",
)
VALID_TEMPLATE_VARIABLES = frozenset(
    {"current_date", "product_catalog", "sku", "sku_info", "num_recs", "persona", "cart_json", "order_json"}
)
VARIABLE_COUNT_RESTRICTIONS = {"product_catalog": 1, "order_json": 1, "cart_json": 1}
NAME_RE = re.compile(r"^[a-zA-Z0-9 ]{1,30}$")
# Bitrecs' SKU pattern, plus the dotted forms its newer tests expect (`B01.23.45.67`).
SKU_RE = re.compile(
    r"\b(?=[\w-]{5,})(?=[\w-]*\d)(?!\d{1,4}\b)(?!\d+[a-zA-Z]{1,2}\b)"
    r"(?:\d{5,25}|[a-zA-Z0-9]*\d[a-zA-Z0-9]+|[a-zA-Z0-9]+-[a-zA-Z0-9]*\d[a-zA-Z0-9]*)\b"
)
DOTTED_SKU_RE = re.compile(r"\b(?=[\w.]*\d)[A-Za-z0-9]{3,5}(?:\.[A-Za-z0-9]{2,5}){2,}\b")
EXPRESSION_RE = re.compile(r"\{\{.*?\}\}", re.DOTALL)


class ArtifactError(ValueError):
    """The gist is not a readable agent artifact (bad YAML, wrong shape, too big, hostile)."""


@dataclass
class Artifact:
    name: str
    version_num: int
    status: str
    miner_hotkey: str
    provider: str
    model: str
    system_prompt_template: str
    user_prompt_template: str
    sampling_params: dict[str, Any]
    fewshot_examples: list[dict[str, str]] = field(default_factory=list)
    eval_scores: dict[str, float] = field(default_factory=dict)
    agent_id: Any = None
    miner_uid: Any = None


# --- loading --------------------------------------------------------------------------------------


class _BoundedLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses deep nesting and alias-heavy documents while composing them."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise ArtifactError(f"Invalid agent YAML: more than {MAX_ALIASES} aliases")
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ArtifactError(f"Invalid agent YAML: nested deeper than {MAX_DEPTH} levels")
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def decode(raw: bytes, *, max_bytes: int) -> str:
    """The gist's bytes as text: within the cap, UTF-8, no NUL bytes."""
    if len(raw) > max_bytes:
        raise ArtifactError(f"Gist content exceeds the {max_bytes} byte limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ArtifactError("Gist content is not valid UTF-8 text") from None
    if "\x00" in text:
        raise ArtifactError("Gist content is not text (it contains NUL bytes)")
    return text.removeprefix("\ufeff")


# An anchor (`&name`) is what makes aliases, and so "billion laughs" documents, possible. Agent artifacts
# have none: those are parsed by libyaml's C loader (5x faster); any document that may hold an anchor
# (this pattern also matches harmless text such as " &amp;") goes through the bounded Python loader.
ANCHOR_RE = re.compile(r"(?:^|[\s\[\]{},:-])&[^\s\[\]{},]")
_C_LOADER: Any = getattr(yaml, "CSafeLoader", None)


def load(text: str) -> dict[str, Any]:
    """The YAML document as a mapping (ArtifactError on anything else)."""
    try:
        if _C_LOADER is not None and not ANCHOR_RE.search(text):
            data = yaml.load(text, Loader=_C_LOADER)  # noqa: S506 - a safe loader
            _check_depth(data)
        else:
            data = _bounded(text)
    except ArtifactError:
        raise
    except yaml.YAMLError as exc:
        raise ArtifactError(f"Invalid agent YAML: {_first_line(exc)}") from None
    except (RecursionError, MemoryError):
        raise ArtifactError("Invalid agent YAML: the document is too complex") from None
    if not isinstance(data, dict):
        raise ArtifactError("Invalid agent YAML: the document must be a mapping of agent fields")
    return data


def _bounded(text: str) -> Any:
    loader = _BoundedLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def _check_depth(data: Any) -> None:
    """libyaml caps flow nesting itself; block nesting is checked here, without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ArtifactError(f"Invalid agent YAML: nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            stack.extend((value, depth + 1) for value in node.values())
        elif isinstance(node, list):
            stack.extend((value, depth + 1) for value in node)


def parse(data: dict[str, Any]) -> Artifact:
    """Bitrecs' agent model over the loaded mapping (types, ranges, few-shot examples)."""
    try:
        version = int(str(data.get("version_num", "")).strip())
    except ValueError:
        raise ArtifactError("Invalid agent YAML: version_num must be an integer") from None
    sampling = data.get("sampling_params")
    if not isinstance(sampling, dict):
        raise ArtifactError("Invalid agent YAML: sampling_params must be a mapping with a temperature")
    _check_sampling(sampling)
    examples = data.get("fewshot_examples") or []
    _check_examples(examples)
    scores = data.get("eval_scores") or {}
    if not isinstance(scores, dict) or not all(isinstance(v, int | float) for v in scores.values()):
        raise ArtifactError("Invalid agent YAML: eval_scores must map names to numbers")
    return Artifact(
        name=_text(data, "name"),
        version_num=version,
        status=_text(data, "status"),
        miner_hotkey=_text(data, "miner_hotkey"),
        provider=_text(data, "provider"),
        model=_text(data, "model"),
        system_prompt_template=_text(data, "system_prompt_template"),
        user_prompt_template=_text(data, "user_prompt_template"),
        sampling_params=sampling,
        fewshot_examples=examples,
        eval_scores={str(k): float(v) for k, v in scores.items()},
        agent_id=data.get("agent_id"),
        miner_uid=data.get("miner_uid"),
    )


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None:
        raise ArtifactError(f"Invalid agent YAML: field '{name}' is required")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ArtifactError(f"Invalid agent YAML: field '{name}' must be a string")
    return str(value)


def _check_sampling(sampling: dict[str, Any]) -> None:
    def number(name: str) -> float | None:
        value = sampling.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ArtifactError(f"Invalid agent YAML: sampling_params.{name} must be a number")
        return float(value)

    temperature = number("temperature")
    if temperature is None or not 0 <= temperature <= 2:
        raise ArtifactError("Invalid agent YAML: sampling_params.temperature must be between 0 and 2")
    top_p = number("top_p")
    if top_p is not None and not 0 <= top_p <= 1:
        raise ArtifactError("Invalid agent YAML: sampling_params.top_p must be between 0 and 1")
    max_tokens = number("max_tokens")
    if max_tokens is not None and max_tokens <= 0:
        raise ArtifactError("Invalid agent YAML: sampling_params.max_tokens must be greater than 0")
    stops = sampling.get("stop_sequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) for s in stops)):
        raise ArtifactError("Invalid agent YAML: sampling_params.stop_sequences must be a list of strings")


def _check_examples(examples: Any) -> None:
    if not isinstance(examples, list):
        raise ArtifactError("Invalid agent YAML: fewshot_examples must be a list")
    if len(examples) > MAX_FEWSHOT:
        raise ArtifactError(f"Invalid agent YAML: at most {MAX_FEWSHOT} fewshot_examples are allowed")
    for i, example in enumerate(examples):
        if (
            not isinstance(example, dict)
            or example.get("role") not in ("user", "assistant", "system")
            or not isinstance(example.get("content"), str)
        ):
            raise ArtifactError(
                f"Invalid agent YAML: fewshot_examples[{i}] needs a role (user, assistant or system) "
                "and a content string"
            )
        if len(example["content"]) > MAX_FEWSHOT_CHARS:
            raise ArtifactError(
                f"Invalid agent YAML: fewshot_examples[{i}].content exceeds {MAX_FEWSHOT_CHARS} characters"
            )


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


# --- the template rules (Bitrecs' `validate_artifact_template`, in its order) ---------------------


@lru_cache(maxsize=1)
def _encoding() -> Any:
    import bpe_openai  # the o200k_base tables are inside the wheel

    return bpe_openai.get_encoding("o200k_base")


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(autoescape=False)  # only parses; nothing is ever rendered


def token_count(text: str) -> int:
    return len(_encoding().encode(text))


def _skus(template: str) -> list[str]:
    cleaned = EXPRESSION_RE.sub("", template)
    found = SKU_RE.findall(cleaned)
    found += [m for m in DOTTED_SKU_RE.findall(cleaned) if m not in found]
    return found


def _forbidden(tree: nodes.Template) -> bool:
    """Anything beyond `{{ variable }}`: blocks, conditions, loops, macros, filters, calls, attributes."""
    for node in tree.find_all((nodes.Block, nodes.If, nodes.For, nodes.Macro, nodes.Output)):
        if not isinstance(node, nodes.Output):
            return True
        if not all(isinstance(child, nodes.Name | nodes.TemplateData | nodes.Const) for child in node.nodes):
            return True
    return any(
        not isinstance(node, nodes.Output) for node in tree.body
    )  # `{% set %}`, `{% include %}`, … at top level


def _raw_counts(raw: str) -> dict[str, int]:
    return {
        var: len(re.findall(r"{{\s*" + re.escape(var) + r"\s*}}", raw)) for var in VARIABLE_COUNT_RESTRICTIONS
    }


def template_violation(agent: Artifact, raw: str, *, allowed_providers: tuple[str, ...]) -> str | None:
    """Bitrecs' first failing template rule as its message; None when the artifact passes."""
    if not agent.name or len(agent.name) > 30:
        return "name must not be empty and must not exceed 30 characters"
    if not NAME_RE.match(agent.name):
        return "name must be 1-30 alphanumeric characters only (letters and numbers, no special characters)"
    if agent.version_num != 1:
        return "version_num must be 1"
    if not agent.provider:
        return "provider must not be empty"
    if not agent.model:
        return "model must not be empty"
    if not agent.system_prompt_template:
        return "system_prompt_template must not be empty"
    if not agent.user_prompt_template:
        return "user_prompt_template must not be empty"
    if token_count(agent.system_prompt_template) > MAX_SYSTEM_PROMPT_TOKENS:
        return "system_prompt_template exceeds maximum token count"
    if token_count(agent.user_prompt_template) > MAX_PROMPT_TOKENS:
        return "user_prompt_template must not exceed maximum token count"
    if agent.status != "screening_1":
        return "status must be 'screening_1' upon submission"
    provider = agent.provider.strip().upper()
    if provider not in PROVIDERS:
        return f"provider '{agent.provider}' is not a supported LLM provider"
    if provider not in allowed_providers:
        return (
            f"provider '{provider}' is currently not supported. "
            f"Supported providers are: {', '.join(allowed_providers)}"
        )
    if ":free" in agent.model.lower():
        return "Free models are not supported"
    for template in (agent.system_prompt_template, agent.user_prompt_template):
        skus = _skus(template)
        if skus:
            return (
                f"Found {len(skus)} potential hardcoded SKUs in the prompt templates. "
                f"Hardcoded SKUs are not allowed in the templates. {skus}"
            )
    env = _environment()
    trees: list[nodes.Template] = []
    for name, template in (
        ("system_prompt_template", agent.system_prompt_template),
        ("user_prompt_template", agent.user_prompt_template),
    ):
        try:
            tree = env.parse(template)
        except TemplateSyntaxError as exc:
            return f"{name} is not a valid Jinja2 template: {exc}"
        except (RecursionError, MemoryError):
            return f"{name} is not a valid Jinja2 template: too deeply nested"
        if _forbidden(tree):
            return f"{name} contains forbidden Jinja syntax (only {{{{variable}}}} allowed)"
        trees.append(tree)
    used: Counter[str] = Counter(node.name for tree in trees for node in tree.find_all(nodes.Name))
    if not used:
        return "No valid template variables found in either prompt template"
    problems = ""
    for var, most in VARIABLE_COUNT_RESTRICTIONS.items():
        if used[var] > most:
            problems += (
                f"Variable '{var}' appears {used[var]} times in TEMPLATE but may only appear {most} time(s)\n"
            )
    for var, count in _raw_counts(raw).items():
        most = VARIABLE_COUNT_RESTRICTIONS[var]
        if count > most:
            problems += (
                f"Variable '{var}' appears {count} times in the RAW TEMPLATE "
                f"but may only appear {most} time(s).\n"
            )
    if problems:
        return problems + f"\n Used variables: {dict(used)}"
    return None


# --- similarity to earlier agents (local; an embeddings provider can replace `vector`) ------------


def vector(agent_text: str) -> Counter[str]:
    """Word and word-pair counts of the templates, after folding case and whitespace."""
    words = re.findall(r"\w+|\{\{\s*\w+\s*\}\}", agent_text.lower())
    grams: Counter[str] = Counter(words)
    grams.update(f"{a} {b}" for a, b in zip(words, words[1:], strict=False))
    return grams


def cosine(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) < len(b) else (b, a)
    dot = sum(count * large.get(key, 0) for key, count in small.items())
    norm = (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5
    return dot / norm if norm else 0.0


def templates_text(system_prompt: str, user_prompt: str) -> str:
    return f"{system_prompt}\n{user_prompt}"
