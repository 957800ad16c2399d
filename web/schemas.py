"""The API's request and response models (pydantic): they parse requests, shape responses and are the
OpenAPI document's schemas, so there is no second hand-written copy of any shape (web/openapi.py).

Why plain pydantic rather than spectree or flask-smorest: both bring their own error bodies and
decorator conventions, while the service has one error shape (web/errors.py) and two front ends (the
API and the CLI's --json) that must print the same objects. pydantic gives the parsing, the
serialisation and JSON Schema 2020-12 (what OpenAPI 3.1 uses) from one class each.

Types are checked here; limits that depend on settings (q length, k and offset ranges) are checked by
the library (search.request) and written into the published schema from the live settings.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AliasPath,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails

from search.citation import Citation as LibraryCitation
from search.errors import SearchError
from search.filters import SORT_ALIASES, SORTS, parse_checked
from search.request import check_text
from search.settings import Mode
from search.types import Filters, SearchHit, SearchResponse
from search.verify import QuoteMatch as LibraryQuoteMatch
from search.verify import VerifyResult

from .batch_schemas import FactCheckBody
from .timeline import series_of

if TYPE_CHECKING:  # a Literal built from a tuple is not a type to mypy; pydantic checks the values
    Sort = str
else:
    Sort = Literal[SORTS + tuple(SORT_ALIASES)]
_YEAR = r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = r"([0-9]{2}(0[48]|[2468][048]|[13579][26])|(0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
              r"|02-(0[1-9]|1[0-9]|2[0-8]))")
# Only calendar dates (years 1-9999, leap days included), so the published schema accepts exactly what
# search.filters.parse_date accepts; no lookarounds, so every JSON Schema validator and generator reads it.
DATE_PATTERN = (rf"^({_YEAR}(-(0[1-9]|1[0-2]))?|{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)$")
Names = list[str]
# An ISO 639-1 (or 639-3) code, optionally with a region (ru, ru-RU, rus); und: undetected. An unknown but
# well-formed code is valid and simply matches no passage (search.filters.languages).
LANGUAGE_PATTERN = r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})?$"
LanguageCodes = list[Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)]]


class FilterFields(BaseModel):
    """The search filters, shared by a search and a quote check. Unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"additionalProperties": False})

    speaker: Names = Field(default_factory=list, description="Only these speakers (exact names, any of).")
    after: str | None = Field(None, pattern=DATE_PATTERN,
                              description="Only statements dated on or after (YYYY, YYYY-MM or YYYY-MM-DD).")
    before: str | None = Field(None, pattern=DATE_PATTERN,
                               description="Only statements dated on or before (YYYY, YYYY-MM or YYYY-MM-DD).")
    source: Names = Field(default_factory=list, description="Only sources containing one of these texts.")
    language: LanguageCodes = Field(default_factory=list, description="Only passages in these languages (ISO "
                                                                      "639-1 codes such as en, ru, uk; und: "
                                                                      "undetected).")

    @field_validator("speaker", "source", "language", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("speaker", "source", "language", mode="after")
    @classmethod
    def _unicode(cls, value: Any, info: Any) -> Any:
        for text in value:
            check_text(info.field_name, text)
        return value

    def filters(self) -> Filters:
        from search.filters import make_filters

        return make_filters(speaker=self.speaker or None, after=self.after, before=self.before,
                            source=self.source or None, language=self.language or None)


class SearchRequest(FilterFields):
    """A search, from a query string or a JSON body. Unknown fields are refused."""

    q: str = Field(description="The question.")
    k: StrictInt | None = Field(None, description="Number of results.")
    offset: StrictInt = Field(0, description="Results to skip (paging).")
    mode: Mode | None = Field(None, description="Retrieval mode.")
    context: StrictBool = Field(False, description="Include neighbouring paragraphs.")
    exact: StrictBool = Field(False, description="Match words only as written: no Cyrillic/Latin "
                                                 "transliteration (Durov no longer finds Дуров).")
    sort: Sort = Field("relevance", description="Order of the relevant results; date = newest first.")
    format: Literal["json", "csv", "jsonl"] = Field(
        "json", description="json: this object; csv or jsonl: the page of results as a download (one row per hit).")
    checked: Literal["yes", "no", "any"] | None = Field(
        None, description="yes: only passages with a published fact-check (ClaimReview); no: only those without.")

    def filters(self) -> Filters:
        """The shared filters plus `checked` (a search's own: a quote check has no such filter)."""
        return dataclasses.replace(super().filters(), checked=parse_checked(self.checked))

    @field_validator("k", "offset", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # JSON Schema's "integer" includes 1.0 (a number with no fraction); strings and 1.5 stay refused
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @field_validator("q", mode="after")
    @classmethod
    def _question_unicode(cls, value: str) -> str:
        check_text("q", value, code="invalid_query")
        return value


FIELDS = tuple(SearchRequest.model_fields)
LIST_FIELDS = ("speaker", "source", "language")
_INTEGER = re.compile(r"-?[0-9]+")
_FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def query_string_values(args: Any, fields: Iterable[str] | None = None, keep_blank: str = "q") -> dict[str, Any]:
    """A query string (werkzeug MultiDict) as JSON-like values: ASCII integers and flags converted, lists
    for the repeatable fields, blank values left out (but `keep_blank`'s, so an empty question is refused
    as empty). With `fields`, only those names are read (a page's own); without, every name is (the
    API's: an unknown one is then refused by the model). The one reader of query strings: API, pages."""
    wanted = None if fields is None else set(fields)
    out: dict[str, Any] = {}
    for name in args:
        if wanted is not None and name not in wanted:
            continue
        values = [v for v in args.getlist(name) if v != "" or name == keep_blank]
        if not values:
            continue
        value: Any = values if name in LIST_FIELDS else values[0]
        if name in ("k", "offset") and _INTEGER.fullmatch(value):
            value = int(value)
        elif name in ("context", "exact"):
            value = _FLAGS.get(value.lower(), value)
        out[name] = value
    return out


def _parse(model: type[BaseModel], values: Any, example: str, special) -> Any:
    """`model` validated from a JSON-like object; SearchError with the field's code otherwise. `special`
    maps (field, pydantic error type) to a (message, code) for the fields a model names itself."""
    if not isinstance(values, Mapping):
        raise SearchError(f"the JSON body must be an object such as {example}", code="invalid_json")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        if isinstance(err.get("ctx", {}).get("error"), SearchError):  # raised by a validator above
            raise err["ctx"]["error"] from None
        field = str(err["loc"][0]) if err["loc"] else "request"
        if err["type"] == "extra_forbidden":
            raise SearchError(f"unknown parameter {field!r}; known: {', '.join(model.model_fields)}",
                              code="unknown_parameter") from None
        message, code = special(field, err["type"]) or (
            f"{field} {_explain(field, err)}, got {err.get('input')!r}", f"invalid_{field}")
        raise SearchError(message, code=code) from None


def parse_request(values: Any) -> SearchRequest:
    """A SearchRequest from a JSON object (or query_string_values); SearchError with a field's code otherwise."""
    def special(field: str, kind: str):
        if field == "q" and kind == "missing":
            return "q is missing: ask a question with ?q=... or {\"q\": \"...\"}", "missing_query"
        if field == "q" and kind == "string_type":
            return "q must be a string", "invalid_query"
        return None

    return _parse(SearchRequest, values, '{"q": "..."}', special)


def _explain(field: str, err: ErrorDetails) -> str:
    """What a field must be, in the words the library uses for the same mistakes."""
    kind = err["type"]
    if kind.startswith("int_"):
        return "must be an integer"
    if kind.startswith("bool_"):
        return "must be true or false"
    if kind == "literal_error":
        return "must be one of " + err.get("ctx", {}).get("expected", "").replace("'", "").replace(" or ", ", ")
    if kind == "list_type" or (len(err["loc"]) > 1 and kind == "string_type"):
        return "must be a string or a list of strings"
    if kind == "string_pattern_mismatch" and field == "language":
        return "must be a language code such as en, ru or uk (ISO 639-1 or 639-3, or und)"
    if kind == "string_pattern_mismatch":
        return "must be a date as YYYY-MM-DD (or YYYY-MM, YYYY)"
    if kind == "string_type":
        return "must be a string"
    return err["msg"].lower()


class VerifyRequest(FilterFields):
    """Check a quote (POST /api/verify): the words, and the search filters. Unknown fields are refused."""

    quote: str = Field(description="The words to check; ... or … stands for omitted words.")
    format: Literal["json", "claimreview"] = Field(
        "json", description="json: the VerifyResponse; claimreview: the verdict as schema.org ClaimReview JSON-LD "
                            "(application/ld+json).")

    @field_validator("quote", mode="after")
    @classmethod
    def _quote_unicode(cls, value: str) -> str:
        check_text("quote", value, code="invalid_quote")
        return value


VERIFY_FIELDS = tuple(VerifyRequest.model_fields)


def parse_verify(values: Any) -> VerifyRequest:
    """A VerifyRequest from a JSON object; SearchError (invalid_quote, invalid_<field>) otherwise."""
    def special(field: str, kind: str):
        if field == "quote":
            return ("quote is missing: send {\"quote\": \"the words to check\"}" if kind == "missing"
                    else "quote must be a string"), "invalid_quote"
        return None

    return _parse(VerifyRequest, values, '{"quote": "..."}', special)


# -- responses ---------------------------------------------------------------------------------------
# The response models read the library's typed results directly (from_attributes): the library's
# dataclasses hold no second serialiser. A field whose name differs from the result's attribute says so
# with a validation alias; the published (serialisation) schema and the JSON use the field's name.
class Result(BaseModel):
    """A response model that can be read from a typed result's attributes (or from a mapping)."""

    model_config = ConfigDict(from_attributes=True, validate_by_name=True, validate_by_alias=True)


class _With:
    """A typed result as `model_validate` reads it (from_attributes), plus what the result does not hold
    itself (the generation's citation, the index reference)."""

    def __init__(self, result: Any, **more: Any) -> None:
        self._result = result
        self.__dict__.update(more)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._result, name)


class Document(Result):
    id: str
    title: str | None
    speaker: str | None
    date: str | None
    source: str | None


class Span(Result):
    start: int = Field(ge=0)
    end: int = Field(ge=0)


class Position(Result):
    """Paragraph k of n, read from a result's `paragraph` and `of`."""

    paragraph: int = Field(ge=1)
    of: int = Field(ge=1)


class Neighbour(Result):
    id: int
    paragraph: int
    text: str


class Citation(Result):
    """What a reader needs to cite one paragraph (search/citation.py); GET /api/passages/{id}/cite renders it."""

    passage: int = Field(ge=0, validation_alias="passage_id")
    document: str = Field(validation_alias=AliasPath("document", "id"))
    speaker: str | None = Field(validation_alias=AliasPath("document", "speaker"))
    title: str | None = Field(validation_alias=AliasPath("document", "title"))
    date: str | None = Field(validation_alias=AliasPath("document", "date"))
    source: str | None = Field(validation_alias=AliasPath("document", "source"))
    url: str | None = Field(description="The statement's web address when known.")
    paragraph: int = Field(ge=1)
    of: int = Field(ge=1)
    permalink: str = Field(description="The paragraph on the document page (relative to this server).")
    sha256: str = Field(description="sha256 of the passage text (UTF-8).")
    generation: str = Field(description="The index generation the passage was read from.")

    @classmethod
    def from_hit(cls, hit: Any, generation: str) -> Citation:
        """For a SearchHit or a QuoteMatch (id, text, document, paragraph, of)."""
        return cls.model_validate(cls.read(hit, generation))

    @staticmethod
    def read(hit: Any, generation: str) -> LibraryCitation:
        """The typed citation of a hit, as `model_validate` reads it (alone or inside a Hit)."""
        return LibraryCitation.of_passage(hit.id, hit.text, hit.document, hit.paragraph, hit.of, generation)


OCR_CONFIDENCE = ("Set when the passage was read by OCR from a scanned page or image: Tesseract's mean word "
                  "confidence, 0-100 (below about 80 expect misread words). Absent (hits) or null (document "
                  "passages) for text read from a text layer.")


def _absent(value: Any) -> bool:
    """An optional part a result does not have: left out of the JSON (`exclude_if`)."""
    return value is None


class Hit(Result):
    id: int = Field(ge=0)
    score: float
    text: str
    highlight: Span
    document: Document
    position: Position
    weak: bool = Field(description="Below the calibrated \"no strong match\" line.")
    duplicates: list[Document] | None = Field(None, exclude_if=_absent,
                                              description="Other statements that carry the same paragraph.")
    context: str | None = Field(None, exclude_if=_absent, description="Headings above the paragraph.")
    neighbours: list[Neighbour] | None = Field(None, exclude_if=_absent)
    matches: list[Span] | None = Field(None, description="Where the question's words and phrases occur in "
                                                         "text (keyword matches), in order.")
    citation: Citation | None = Field(None, exclude_if=_absent)
    ocr_confidence: float | None = Field(None, ge=0, le=100, exclude_if=_absent, description=OCR_CONFIDENCE)
    language: str = Field("und", description="The passage's language (ISO 639-1, or und).")
    keyword_only: bool = Field(False, description="Ranked by its keywords alone: the sentence model reads "
                                                  "English only (a question or passage in another language).")
    fact_checks: list[FactCheckBody] | None = Field(None, exclude_if=_absent,
                                                    description="Published fact-checks (ClaimReview) "
                                                                      "of this paragraph, newest first.")

    @classmethod
    def of(cls, hit: SearchHit, neighbours: bool = False, generation: str | None = None) -> Hit:
        return cls.model_validate(cls.read(hit, neighbours, generation))

    @staticmethod
    def read(hit: SearchHit, neighbours: bool = False, generation: str | None = None) -> _With:
        """The hit as `model_validate` reads it, in one call for the whole tree (a model per part cost ~12
        validator calls a hit). Optional parts are None when absent, and then not sent (`exclude_if`)."""
        citation = None if generation is None else Citation.read(hit, generation)
        return _With(hit, score=float(hit.score), position=hit, duplicates=list(hit.duplicates) or None,
                     context=hit.context or None, neighbours=list(hit.neighbours) if neighbours else None,
                     citation=citation, fact_checks=list(hit.fact_checks) or None)


class Facet(Result):
    value: str
    count: int = Field(ge=0)


class TimelineYear(Result):
    year: int
    total: int = Field(ge=1)
    counts: list[int] = Field(description="Per speaker, in the order of `speakers`.")


class Timeline(Result):
    """Strong matches per year (over the facets' depth), split by the top speakers, then Others."""

    speakers: list[str]
    years: list[TimelineYear] = Field(validation_alias="matched_years", description="Years with matches, ascending.")


class AppliedFilters(Result):
    """The filters a search or a quote check ran with, as search.types.Filters holds them."""

    speaker: list[str] = Field(validation_alias="speakers")
    after: str | None
    before: str | None
    source: list[str] = Field(validation_alias="sources")
    language: list[str] = Field(default_factory=list, validation_alias="languages")
    checked: Literal["yes", "no"] | None = Field(None, exclude_if=lambda checked: checked is None,
                                                 description="Only passages with (yes) or without (no) a "
                                                             "published fact-check; sent when asked.")

    @field_validator("checked", mode="before")
    @classmethod
    def _yes_no(cls, value: Any) -> Any:
        return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


class IndexRef(Result):
    generation: str
    passages: int = Field(ge=0)


class SearchResults(Result):
    """What `query --json` prints: the hits and how they were asked for."""

    query: str
    results: list[Hit]
    took_ms: float = Field(ge=0)
    mode: Mode
    sort: str
    filters: AppliedFilters | None = Field(None, exclude_if=_absent)
    undated_excluded: int | None = Field(None, ge=0, exclude_if=_absent,
                                         description="Statements left out by a date filter because they have "
                                                     "no date.")
    facets: dict[str, list[Facet]] | None = Field(None, exclude_if=_absent,
                                                  description="Counts by speaker and year over all strong matches.")
    timeline: Timeline | None = None

    @classmethod
    def of(cls, r: SearchResponse, neighbours: bool = False) -> SearchResults:
        return cls.model_validate(cls.read(r, neighbours))

    @staticmethod
    def read(r: SearchResponse, neighbours: bool = False, **more: Any) -> _With:
        """The response as `model_validate` reads it: filters (and the undated count) when filtered, facets
        when there are any, the timeline always."""
        return _With(r, results=[Hit.read(h, neighbours, r.generation) for h in r.hits],
                     took_ms=round(r.took_ms, 2), filters=r.filters or None,
                     undated_excluded=r.undated_excluded if r.filters else None, facets=r.facets or None,
                     timeline=series_of(r), **more)


class SearchResponseBody(SearchResults):
    """The API's search answer: the CLI's object plus paging and the index generation."""

    k: int
    offset: int
    strong: bool = Field(description="Whether any result is above the \"no strong match\" line.")
    index: IndexRef

    @classmethod
    def of(cls, r: SearchResponse, neighbours: bool = False) -> SearchResponseBody:
        return cls.model_validate(SearchResults.read(r, neighbours, index=IndexRef(generation=r.generation,
                                                                                 passages=r.passages)))


DiffKind = Literal["equal", "replace", "insert", "delete"]
Verdict = Literal["verbatim", "altered", "paraphrase", "not_found"]


class DiffOp(Result):
    op: DiffKind = Field(
        description="From the source to the quote: replace (quote words instead of source words), insert (only "
                    "in the quote), delete (source words left out), equal.")
    quote: str
    source: str
    elided: bool | None = Field(None, exclude_if=lambda elided: not elided,  # only `true` is sent
                                description="An ellipsis in the quote stood for these source words.")


class QuoteMatch(Result):
    id: int = Field(ge=0)
    text: str
    span: Span = Field(description="The quoted words (or the paraphrasing sentence) in text.")
    similarity: float = Field(description="Word similarity (verbatim, altered) or sentence cosine (paraphrase).")
    verdict: Literal["verbatim", "altered", "paraphrase"]
    diff: list[DiffOp]
    document: Document
    position: Position
    citation: Citation
    fact_checks: list[FactCheckBody] | None = Field(None, exclude_if=lambda checks: not checks,
                                                    description="Published fact-checks of this paragraph.")

    @field_validator("similarity", mode="before")
    @classmethod
    def _rounded(cls, value: Any) -> float:
        return round(float(value), 4)

    @classmethod
    def of(cls, m: LibraryQuoteMatch, generation: str) -> QuoteMatch:
        return cls.model_validate(_With(m, position=Position.model_validate(m),
                                        citation=Citation.from_hit(m, generation)))


class FirstSaid(Result):
    id: int
    document: Document


class VerifyResponse(Result):
    """The verdict on a quote: matches[0] is the best, the others oldest first."""

    quote: str
    verdict: Verdict
    matches: list[QuoteMatch]
    first_said: FirstSaid | None = Field(description="The earliest dated statement with the best match's words "
                                                     "(verbatim or altered only).")
    took_ms: float = Field(ge=0)
    paraphrase_checked: bool = Field(True, description="Whether the meaning was compared too: the sentence "
                                                       "model reads English only, so a quote in another "
                                                       "language is checked word for word alone.")
    filters: AppliedFilters | None = Field(None, exclude_if=lambda filters: filters is None)  # sent when filtered
    fact_checks: list[FactCheckBody] | None = Field(None, exclude_if=lambda checks: not checks,
                                                    description="Published fact-checks (ClaimReview) of the "
                                                                "matching paragraphs.")
    index: IndexRef

    @classmethod
    def of(cls, r: VerifyResult, generation: str, passages: int) -> VerifyResponse:
        checks = {fc.id: fc for m in r.matches for fc in m.fact_checks}
        return cls.model_validate(_With(r, matches=[QuoteMatch.of(m, generation) for m in r.matches],
                                        took_ms=round(r.took_ms, 2), filters=r.filters or None,
                                        fact_checks=list(checks.values()) or None,
                                        index=IndexRef(generation=generation, passages=passages)))


class DocumentWithExtra(Document):
    extra: dict[str, Any] = Field(default_factory=dict)


class Passage(Result):
    id: int
    paragraph: int = Field(ge=1)
    start: int
    end: int
    context: str | None = None
    text: str
    ocr_confidence: float | None = Field(None, ge=0, le=100, description=OCR_CONFIDENCE)


class DocumentBody(Result):
    document: DocumentWithExtra
    text: str
    passages: list[Passage]
    index: IndexRef


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"additionalProperties": False})
    code: str
    message: str


class Error(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"additionalProperties": False})
    error: ErrorDetail


class Health(Result):
    status: Literal["ok", "unavailable"]
    generation: str | None
    passages: int
    loading: bool = Field(description="A newer generation is being loaded.")
    error: ErrorDetail | None = None


class ModelRef(Result):
    name: str
    sha256: str
    backend: str


class Stats(Result):
    generation: str
    documents: int
    passages: int
    model: ModelRef
    dimension: int
    index: dict[str, Any]
    built_at: str
    weak_line: float = Field(description="Cosine below which hits are weak (\"no strong match\") for this index.")


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (SearchResponseBody, VerifyResponse, Citation, DocumentBody, Health,
                                                 Stats, Error)


def dump(model: BaseModel) -> dict[str, Any]:
    """A model as JSON-ready data, leaving out optional fields that were not set."""
    return model.model_dump(mode="json", exclude_unset=True)


def dump_json(model: BaseModel) -> str:
    """`dump` as compact JSON text, written by pydantic-core in one pass: the same text as Flask's compact
    json.dumps of `dump` (tests/test_schemas_json.py), without the dict in between (a search answer:
    ~0.4 -> ~0.15 ms)."""
    return model.model_dump_json(exclude_unset=True)
