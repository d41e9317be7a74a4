"""proctor's sample agent for the demo suite.

ORO agents search a product index through tools; each problem of proctor's demo suite carries a
small `catalog` instead. This agent reads what the shopper asks for in the query, matches catalogue
titles by the words they share, keeps to the price range the query names, and for Shop and Voucher
problems takes every pick from the one shop that covers the wishes best (cheaper first on ties).

It answers with one object per pick: {"product_id", "title", "shop_id"}.
"""

import re
from typing import Any

IGNORED = {"find", "buy", "from", "one", "shop", "the", "for", "and", "with", "php"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2 and w not in IGNORED}


def _wishes(query: str) -> list[str]:
    """The things asked for: the text after the last 'buy'/'find', split on commas and 'and'."""
    text = query.lower().rstrip(". ")
    starts = [m.end() for m in re.finditer(r"\b(?:buy|find)\s+", text)]
    text = text[starts[-1] :] if starts else text
    text = re.split(r"\s+priced\s+|\s+from one shop", text)[0]
    parts = re.split(r",\s*|\s+and\s+", text)
    return [re.sub(r"^(?:an?|some)\s+", "", p).strip() for p in parts if p.strip()]


def _price_range(query: str) -> tuple[float, float]:
    found = re.search(r"between\s+(\d+(?:\.\d+)?)\s+and\s+(\d+(?:\.\d+)?)", query.lower())
    return (float(found.group(1)), float(found.group(2))) if found else (0.0, float("inf"))


def _best(wish: str, items: list[dict[str, Any]]) -> tuple[int, dict[str, Any] | None]:
    """(overlap, item) of the item sharing most words with the wish; cheaper wins a tie."""
    wanted = _words(wish)
    ranked = sorted(
        items, key=lambda it: (-len(wanted & _words(str(it.get("title", "")))), float(it.get("price", 0)))
    )
    if not ranked:
        return 0, None
    top = ranked[0]
    return len(wanted & _words(str(top.get("title", "")))), top


def _pick(item: dict[str, Any]) -> dict[str, Any]:
    return {"product_id": item["product_id"], "title": item.get("title"), "shop_id": item.get("shop_id")}


def agent_main(problem_data: dict[str, Any]) -> list[dict[str, Any]]:
    query = str(problem_data.get("query", ""))
    catalog = [it for it in problem_data.get("catalog", []) if isinstance(it, dict) and "product_id" in it]
    wishes = _wishes(query) or [query]
    if problem_data.get("category") == "Product":
        low, high = _price_range(query)
        in_range = [it for it in catalog if low <= float(it.get("price", 0)) <= high] or catalog
        overlap, item = _best(" ".join(wishes), in_range)
        return [_pick(item)] if item is not None else []
    shops = sorted({str(it.get("shop_id")) for it in catalog})
    best_shop, best_cover = None, -1
    for shop in shops:
        stock = [it for it in catalog if str(it.get("shop_id")) == shop]
        cover = sum(_best(wish, stock)[0] for wish in wishes)
        if cover > best_cover:
            best_shop, best_cover = shop, cover
    stock = [it for it in catalog if str(it.get("shop_id")) == best_shop]
    picks: list[dict[str, Any]] = []
    for wish in wishes:
        overlap, item = _best(wish, [it for it in stock if _pick(it) not in picks])
        if item is not None and overlap > 0:
            picks.append(_pick(item))
    return picks
