"""Published fact-checks over HTTP: GET /api/factchecks lists them (newest review first)."""
from __future__ import annotations

from typing import Any

from flask import request

from search.factchecks import FactCheckStore
from search.request import integer
from search.types import FactCheck

from .api import ROUTES
from .batch_schemas import FactCheckBody, FactCheckList, FactCheckListItem
from .extension import live_searcher
from .routes import Reply
from .schemas import dump


def fact_check_body(fc: FactCheck) -> FactCheckBody:
    return FactCheckBody.model_validate(fc)


def list_body(items: list[tuple[FactCheck, int]], total: int, offset: int) -> dict[str, Any]:
    return dump(FactCheckList(total=total, offset=offset, fact_checks=[
        FactCheckListItem.model_validate({**FactCheckBody.model_validate(fc).model_dump(), "passages": n})
        for fc, n in items]))


@ROUTES.get("/factchecks", "factChecks", "Published fact-checks (ClaimReview) kept beside the index",
            parameters=({"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
                        {"name": "offset", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0}}),
            responses={"200": Reply("Newest review first, each with how many passages it is linked to.",
                                    FactCheckList)})
def factchecks_list():
    limit = integer("limit", request.args.get("limit", "100"), 1, 1000)
    offset = integer("offset", request.args.get("offset", "0"), 0, 1_000_000)
    store = FactCheckStore.beside(live_searcher().settings.index)
    items, total = store.all(limit, offset) if store else ([], 0)
    return list_body(items, total, offset)
