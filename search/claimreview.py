"""A quote check's verdict as schema.org ClaimReview JSON-LD, the markup fact-checkers publish.

Mapping (docs/factcheck.md): claimReviewed = the quote; reviewRating = the verdict on a 1-4 scale
(4 verbatim "Said word for word", 3 paraphrase "Said in other words", 2 altered "Altered quote",
1 not found "No record found"), with alternateName the label and ratingExplanation what was compared;
itemReviewed = a Claim whose author and datePublished are the best match's speaker and date,
appearance = every matching statement (CreativeWork: title, date, speaker, its web address when known),
firstAppearance = the earliest dated one carrying the words (verbatim or altered only).
"""
from __future__ import annotations

from datetime import date
from typing import Any

from .citation import url_of
from .types import DocumentInfo
from .verify import QuoteMatch, VerifyResult

RATINGS = {"verbatim": (4, "Said word for word"), "paraphrase": (3, "Said in other words"),
           "altered": (2, "Altered quote"), "not_found": (1, "No record found")}
CONTEXT = "https://schema.org"


def _person(name: str | None) -> dict[str, Any] | None:
    return {"@type": "Person", "name": name} if name else None


def _work(document: DocumentInfo, match: QuoteMatch | None = None) -> dict[str, Any]:
    """A statement as a CreativeWork (the paragraph named in `identifier`)."""
    work: dict[str, Any] = {"@type": "CreativeWork", "name": document.title or document.id}
    url = url_of(document)
    if url:
        work["url"] = url
    if document.date:
        work["datePublished"] = document.date
    if document.speaker:
        work["author"] = _person(document.speaker)
    work["identifier"] = document.id + (f"#p{match.paragraph}" if match is not None else "")
    return work


def claim_review(result: VerifyResult, generation: str, author: str = "statement-search",
                 today: date | None = None) -> dict[str, Any]:
    """The verdict as one ClaimReview (a JSON-LD object with its @context)."""
    value, label = RATINGS[result.verdict]
    explanation = {
        "verbatim": "The quote appears word for word in the statements searched.",
        "altered": "A passage carries most of the quote's words, with some changed, added, left out or moved.",
        "paraphrase": "A sentence of the statements searched says the same thing in other words.",
        "not_found": "Nothing in the statements searched carries the quote or its meaning.",
    }[result.verdict] + f" Index generation {generation}."
    claim: dict[str, Any] = {"@type": "Claim"}
    if result.matches:
        best = result.matches[0].document
        if best.speaker:
            claim["author"] = _person(best.speaker)
        if best.date:
            claim["datePublished"] = best.date
        claim["appearance"] = [_work(m.document, m) for m in result.matches]
    if result.first_said is not None:
        claim["firstAppearance"] = _work(result.first_said.document, result.first_said)
    return {
        "@context": CONTEXT,
        "@type": "ClaimReview",
        "claimReviewed": result.quote,
        "datePublished": (today or date.today()).isoformat(),
        "author": {"@type": "Organization", "name": author},
        "reviewRating": {"@type": "Rating", "ratingValue": value, "bestRating": 4, "worstRating": 1,
                         "alternateName": label, "ratingExplanation": explanation},
        "itemReviewed": claim,
    }
