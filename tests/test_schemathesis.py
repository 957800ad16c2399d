"""The API against its own OpenAPI document: schemathesis generates requests (valid and invalid) from the
served schema and checks every response (no 5xx, documented status, content type and body schema).
Bounded (derandomised, a fixed number of examples per operation) so the default suite stays fast; a longer
run: STATEMENT_SEARCH_FUZZ_EXAMPLES=2000 pytest tests/test_schemathesis.py."""
from __future__ import annotations

import os

import pytest
import schemathesis
import schemathesis.specs.openapi.schemas  # noqa: F401  imported at collection: pytest rewrites schemathesis's
# modules (a pytest plugin); parsing them lazily, deep in a fixture's stack after the hypothesis suites, hit
# CPython 3.11's "AST constructor recursion depth mismatch" SystemError once in a full run.
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from search.live import LiveSearcher
from search.settings import load_settings
from web import create_app
from question_strategies import questions

# Half the questions are typed the way users type them ("phrases", -words, repeated words: issue 23),
# not only the random strings the schema alone would give.
SEED_TEXT = "Telegram was banned in Russia when we refused to hand over encryption keys"
TYPED_QUESTION = st.none() | questions(SEED_TEXT)

EXAMPLES = int(os.environ.get("STATEMENT_SEARCH_FUZZ_EXAMPLES", "30"))


@pytest.fixture(scope="module")
def api_schema(seed_index, embedder):
    config = load_settings({"index": seed_index, "reload_interval": -1}, environ={})
    app = create_app({"SETTINGS": config, "LIVE_SEARCHER": LiveSearcher(config, embedder).load()})
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app)


def test_api_conforms_to_its_openapi_document(api_schema):
    """Every operation: EXAMPLES generated requests, every schemathesis check passing."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 5  # search (GET, POST), documents, health, stats
    calls = []
    for operation in operations:
        @given(case=operation.as_strategy(), typed=TYPED_QUESTION)
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case, typed):
            _type_question(case, typed)
            _claims_file(case)
            assume(not _empty_date_range(case) and not _wordless_quote(case) and not _webhook(case)
                   and not _refused_question(case))
            calls.append(case.call_and_validate())

        check()
    assert len(calls) >= len(operations)


def _type_question(case, typed: str | None) -> None:
    """Put a typed question in the `q` of a search (query string or JSON body), when drawn and when the
    question syntax accepts it (the documented 400s for the rest are tests/test_phrases_property.py's)."""
    from search.errors import SearchError
    from search.phrases import parse_question

    if typed is None or not typed.strip() or len(typed) > 1000:
        return
    try:
        parse_question(typed)
    except SearchError:
        return
    for values in (case.query, case.body):
        if isinstance(values, dict) and isinstance(values.get("q"), str):
            values["q"] = typed


def _webhook(case) -> bool:
    """A saved search with a webhook: whether its URL is allowed depends on where its host resolves (the
    address policy, tested in test_watchlists_web.py), which no JSON Schema can state."""
    return isinstance(case.body, dict) and case.body.get("webhook") is not None


CLAIMS_FILES = {"csv": "quote\nBalancing privacy and security is not easy.\n",
                "jsonl": '{"quote": "Balancing privacy and security is not easy."}\n'}


def _claims_file(case) -> None:
    """A batch upload's file content is not described by the schema (any string is schema-valid, few are a
    CSV with a quote column): put a valid file of the case's format in it, so the positive checks mean
    something (bad files are tests/test_batch.py's)."""
    from search.claims import file_format
    from search.errors import SearchError

    if case.operation.path != "/api/verify/batch" or case.body is None:
        return
    query = case.query or {}
    try:
        fmt = file_format(query.get("name"), case.media_type, query.get("format"))
    except SearchError:
        return
    if isinstance(case.body, dict):
        if "file" in case.body:
            case.body["file"] = CLAIMS_FILES[fmt]
    else:
        case.body = CLAIMS_FILES[fmt]


def _refused_question(case) -> bool:
    """A q the question syntax refuses ("-word" alone: invalid_query; a "phrase" of stopwords only:
    stopword_phrase): rules JSON Schema cannot state; tests/test_phrases_property.py checks those 400s."""
    from search.errors import SearchError
    from search.phrases import parse_question

    for values in (case.query, case.body):
        q = values.get("q") if isinstance(values, dict) else None
        if isinstance(q, str):
            try:
                parse_question(q)
            except SearchError:
                return True
    return False


def _wordless_quote(case) -> bool:
    """A quote with no word in it ("»"): refused as invalid_quote (tested in test_web.py); "holds a word
    in any script" has no portable JSON Schema pattern (ECMA-262 \\w is ASCII only)."""
    from search.quotes import tokens

    quote = case.body.get("quote") if isinstance(case.body, dict) else None
    return isinstance(quote, str) and not tokens(quote)


def _empty_date_range(case) -> bool:
    """after later than before: a cross-field rule JSON Schema cannot state (the API answers 400
    invalid_date_range, tested in test_web.py), so such cases are not "schema-valid" in fact."""
    from search.errors import SearchError
    from search.filters import parse_date

    values = case.body if isinstance(case.body, dict) else (case.query or {})
    after, before = values.get("after"), values.get("before")
    if not (isinstance(after, str) and isinstance(before, str)):
        return False
    try:
        return parse_date("after", after, end=False) > parse_date("before", before, end=True)
    except SearchError:
        return False
