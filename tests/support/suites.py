"""Small suite files in ORO's own format (a JSON list of problem objects) and the generic form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def oro_problems(count: int = 6) -> list[dict[str, Any]]:
    """Problems shaped like ORO's problem_suite_v3.json: Product, Shop and Voucher categories."""
    problems: list[dict[str, Any]] = []
    for i in range(count):
        category = ("Product", "Shop", "Voucher")[i % 3]
        reward = {
            "product_id": f"{4000000000 + i}",
            "title": [f"Item number {i}"],
            "price": [{"between": [10 + i, 100 + i]}],
        }
        problem: dict[str, Any] = {
            "query": f"Looking for item number {i} priced from {10 + i} to {100 + i} PHP.",
            "reward": reward if category == "Product" else [reward],
            "category": category,
            "difficulty": ("easy", "medium", "hard")[i % 3],
            "title": f"{category} {i}",
            "reward_title_embeddings": {f"Item number {i}": [0.1 * i, 0.2, 0.3]},
        }
        if category == "Voucher":
            problem["voucher"] = {"voucher_type": "platform", "threshold": 100, "budget": 500}
        problems.append(problem)
    return problems


def write_oro_suite(path: Path, count: int = 6) -> Path:
    path.write_text(json.dumps(oro_problems(count), indent=2))
    return path
