"""The batch check's and the fact-checks' API models (pydantic): the OpenAPI document's schemas for them."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from search.batch import BatchRow
from search.jobs import Job


def _iso(seconds: float | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds") if seconds else None


class BatchJob(BaseModel):
    """A batch check's progress: rows done of total, and where to fetch the results."""

    id: str = Field(description="The job's id (a random token: whoever holds it can read the results).")
    name: str | None = Field(description="The uploaded file's name.")
    status: Literal["queued", "running", "done"]
    total: int = Field(ge=0, description="Quotes in the file.")
    done: int = Field(ge=0, description="Quotes checked so far (kept across worker restarts).")
    rate: float | None = Field(description="Quotes checked per second since the job started.")
    created: str
    started: str | None
    finished: str | None
    progress: str = Field(description="This object's address (poll it).")
    results: str = Field(description="The results: ?format=json (default), csv or jsonl; 409 until done.")
    page: str = Field(description="The job's page, with a progress bar.")

    @classmethod
    def of(cls, job: Job, base: str = "/api/verify/batch") -> BatchJob:
        return cls.model_validate({
            "id": job.id, "name": job.name, "status": job.status, "total": job.total, "done": job.done,
            "rate": round(job.rate, 3) if job.rate else None, "created": _iso(job.created) or "",
            "started": _iso(job.started), "finished": _iso(job.finished), "progress": f"{base}/{job.id}",
            "results": f"{base}/{job.id}/results", "page": f"/verify/batch/{job.id}"})


class BatchResults(BaseModel):
    """A finished batch check: the job, and one row per quote in file order."""

    job: BatchJob
    rows: list[BatchRow]


class FactCheckBody(BaseModel):
    """A published fact-check (schema.org ClaimReview) as kept beside the index."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    claim: str = Field(description="claimReviewed")
    author: str = Field(description="Who published the review.")
    url: str
    date: str | None = Field(description="datePublished")
    rating: str | None = Field(description="The rating's label (alternateName), else value of best.")
    label: str = Field(description='"checked by AUTHOR on DATE: RATING"')
    claimant: str | None = Field(description="itemReviewed.author: who made the claim.")
    claim_date: str | None = None


class FactCheckListItem(FactCheckBody):
    passages: int = Field(ge=0, description="Passages of the index linked to the claim.")


class FactCheckList(BaseModel):
    total: int = Field(ge=0)
    offset: int = Field(ge=0)
    fact_checks: list[FactCheckListItem]

