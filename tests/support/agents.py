"""Agent files for tests: valid ones (unique bytes each time) and ones each gate refuses."""

from __future__ import annotations

import uuid

VALID_TEMPLATE = '''"""A small ORO-style agent."""
import json
import re
from typing import Any, Dict, List

SALT = "{salt}"


def _keywords(query: str) -> List[str]:
    return [w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 2]


def agent_main(problem_data: Dict[str, Any]) -> List[Dict[str, Any]]:
    query = problem_data.get("query", "")
    return [{{"answer": " ".join(_keywords(query)), "meta": json.dumps({{"salt": SALT}})}}]
'''


def valid_agent(salt: str | None = None) -> bytes:
    """A valid agent whose bytes differ on every call (so duplicates never collide by accident)."""
    return VALID_TEMPLATE.format(salt=salt or uuid.uuid4().hex).encode()


SECURITY_VIOLATION = b"""import subprocess as sp

def agent_main(problem_data):
    return [{"out": sp.run(["ls"]).returncode}]
"""

INTEGRITY_VIOLATION = b"""import base64

def agent_main(problem_data):
    return [{"answer": base64.b64decode("aGVsbG8=").decode()}]
"""

NO_ENTRYPOINT = b"def main(problem_data):\n    return []\n"
SYNTAX_ERROR = b"def agent_main(problem_data)\n    return []\n"
NOT_UTF8 = b"def agent_main(p):\n    return ['\xff\xfe']\n"
NUL_BYTES = b"def agent_main(p):\n    return []\x00\n"
