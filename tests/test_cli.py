import json

import pytest
from click.testing import CliRunner

from index.manifest import read_manifest
from search.settings import Settings, load_settings
from web.cli import main
from conftest import ENCRYPTION_PARAGRAPH, SEED_CORPUS


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """An index built through the CLI itself, with the real model."""
    index = tmp_path_factory.mktemp("cli") / "index"
    result = CliRunner().invoke(main, ["rebuild-index", "--corpus", str(SEED_CORPUS), "--index", str(index), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "13 passages" in result.output
    return index


@pytest.mark.parametrize("command", [[], ["rebuild-index"], ["query"]])
def test_help_on_every_command(runner, command):
    result = runner.invoke(main, command + ["--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_version(runner):
    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and "0.1.0" in result.output


def test_query_text_output(runner, built):
    result = runner.invoke(main, ["query", "Why was Telegram banned in Russia?", "--index", str(built), "-k", "3"])
    assert result.exit_code == 0, result.output
    first = result.output.split("\n\n")[0]
    assert ENCRYPTION_PARAGRAPH in first and "paragraph" in first and "of 13" in first


def test_query_json_shape(runner, built):
    result = runner.invoke(main, ["query", "Why was Telegram banned in Russia?", "--index", str(built),
                                  "--k", "2", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert set(payload) >= {"query", "results", "took_ms"}
    hit = payload["results"][0]
    assert set(hit) >= {"id", "score", "text", "highlight", "document", "position"}
    assert set(hit["document"]) == {"id", "title", "speaker", "date", "source"}
    assert set(hit["position"]) == {"paragraph", "of"} and set(hit["highlight"]) == {"start", "end"}
    assert isinstance(hit["score"], float) and len(payload["results"]) == 2


@pytest.mark.parametrize("args,code,message", [
    (["query", ""], 2, "empty"),
    (["query", "x" * 1001], 2, "limit is 1000"),
    (["query", "ok", "-k", "0"], 2, "k must be between"),
    (["query", "ok", "-k", "many"], 2, "k must be an integer"),
    (["query", "ok", "--after", "2020-02-31"], 2, "YYYY-MM-DD"),
])
def test_query_errors(runner, built, args, code, message):
    result = runner.invoke(main, args + ["--index", str(built)])
    assert result.exit_code == code
    assert message in result.stderr and "Traceback" not in result.output


def test_query_without_index(runner, tmp_path):
    result = runner.invoke(main, ["query", "hello", "--index", str(tmp_path / "none")])
    assert result.exit_code == 3 and "rebuild-index" in result.stderr


def test_rebuild_errors_leave_index_untouched(runner, built, tmp_path):
    before = read_manifest(built).generation
    empty = tmp_path / "empty"
    empty.mkdir()
    result = runner.invoke(main, ["rebuild-index", "--corpus", str(empty), "--index", str(built), "--quiet"])
    assert result.exit_code == 2 and "no statements" in result.stderr
    result = runner.invoke(main, ["rebuild-index", "--corpus", str(tmp_path / "nope"), "--index", str(built)])
    assert result.exit_code == 2 and "does not exist" in result.stderr
    assert read_manifest(built).generation == before


def test_rebuild_warns_about_skipped_files(runner, tmp_path, corpus):
    (corpus / "broken.txt").write_bytes(b"\xff\xfe\x00binary")
    result = runner.invoke(main, ["rebuild-index", "--corpus", str(corpus), "--index", str(tmp_path / "ix"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "broken.txt" in result.stderr
    assert "1 files or messages skipped" in result.stderr


def test_settings_precedence_flags_over_env_over_defaults(tmp_path):
    env = {"STATEMENT_SEARCH_INDEX": str(tmp_path / "env"), "STATEMENT_SEARCH_MAX_K": "50"}
    assert load_settings(environ={}).index == Settings().index
    assert load_settings(environ=env).index == tmp_path / "env"
    assert load_settings({"index": tmp_path / "flag"}, environ=env).index == tmp_path / "flag"
    assert load_settings(environ=env).max_k == 50


def test_env_var_reaches_the_cli(runner, built, monkeypatch):
    monkeypatch.setenv("STATEMENT_SEARCH_INDEX", str(built))
    result = runner.invoke(main, ["query", "encryption keys", "-k", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert ENCRYPTION_PARAGRAPH in json.loads(result.stdout)["results"][0]["text"]


def test_readme_settings_table_is_current():
    from pathlib import Path

    from web.cli import settings_table

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert settings_table() in readme, "regenerate the README table with `statement-search settings --markdown`"


def test_settings_command(runner, monkeypatch):
    monkeypatch.setenv("STATEMENT_SEARCH_MAX_K", "42")
    result = runner.invoke(main, ["settings"])
    assert result.exit_code == 0 and "max_k = 42" in result.output
    monkeypatch.setenv("STATEMENT_SEARCH_MAX_K", "lots")
    result = runner.invoke(main, ["settings"])
    assert result.exit_code == 2 and "max_k must be int" in result.stderr


# -- fact-checker commands (issue 14) ------------------------------------------------------------------
def test_verify_altered_quote_shows_the_diff(runner, built):
    result = runner.invoke(main, ["verify", "Telegram deletes thousands of harmful posts and channels every day",
                                  "--index", str(built)])
    assert result.exit_code == 0, result.output
    assert "verdict: altered" in result.stdout
    assert "said “millions”, quoted “thousands”" in result.stdout


def test_verify_json_is_the_api_shape(runner, built):
    from web.schemas import VerifyResponse

    result = runner.invoke(main, ["verify", "Telegram deletes millions of harmful posts ... every day",
                                  "--index", str(built), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    VerifyResponse.model_validate(payload)
    assert payload["verdict"] == "verbatim"
    best = payload["matches"][0]
    assert best["text"][best["span"]["start"]:best["span"]["end"]].startswith("Telegram deletes millions")
    assert any(d.get("elided") and d["source"] == "and channels" for d in best["diff"])
    assert best["citation"]["sha256"] and best["citation"]["permalink"].endswith(f"#p{best['position']['paragraph']}")


@pytest.mark.parametrize("args, message", [
    (["verify", ""], "quote is empty"),
    (["verify", "x" * 10_000], "the limit is 1000"),
    (["verify", "ok", "--after", "2020-02-31"], "YYYY-MM-DD"),
    (["query", '"the of" Telegram'], "only common words"),
    (["query", "--", "-Russia"], "only excludes"),
    (["query", "Telegram", "--format", "xml"], "format must be one of"),
])
def test_factcheck_bad_input_exits_2(runner, built, args, message):
    result = runner.invoke(main, args[:1] + ["--index", str(built)] + args[1:])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and "Traceback" not in result.output


def test_verify_without_index(runner, tmp_path):
    result = runner.invoke(main, ["verify", "hello there", "--index", str(tmp_path / "none")])
    assert result.exit_code == 3 and "rebuild-index" in result.stderr


def test_query_phrase_and_exclusion(runner, built):
    result = runner.invoke(main, ["query", '"encryption keys" Telegram', "--index", str(built), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and all("encryption keys" in r["text"] for r in rows)
    result = runner.invoke(main, ["query", "Telegram -Russia", "--index", str(built), "--format", "jsonl", "-k", "13"])
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and all("russia" not in r["text"].lower() for r in rows)


def test_query_csv_has_every_column(runner, built):
    import csv
    import io

    from search.export import COLUMNS

    result = runner.invoke(main, ["query", "privacy and security", "--index", str(built), "--format", "csv", "-k", "3"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == 3 and tuple(rows[0]) == COLUMNS
    assert [r["rank"] for r in rows] == ["1", "2", "3"] and rows[0]["permalink"].startswith("/documents/")


@pytest.mark.parametrize("args, query", [
    (["-k", "many"], {"k": "many"}),
    (["--after", "2020-02-31"], {"after": "2020-02-31"}),
    (["--before", "1999-13"], {"before": "1999-13"}),
])
def test_query_refuses_what_the_api_refuses_in_its_words(runner, tmp_path, args, query):
    """The CLI's options are parsed by the API's schema, before any index is needed."""
    from web import create_app

    api = create_app({"TESTING": True, "LOAD_INDEX": False}).test_client().get(
        "/api/search", query_string={"q": "ok", **query})
    assert api.status_code == 400
    result = runner.invoke(main, ["query", "ok", "--index", str(tmp_path / "none"), *args])
    assert result.exit_code == 2 and result.stderr.strip() == f"error: {api.get_json()['error']['message']}"


def test_every_command_has_help_and_setting_flags_name_their_variable(runner):
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0 and "Usage:" in result.output, name
        for param in command.params:
            if "--index" in getattr(param, "opts", ()) or "--model" in getattr(param, "opts", ()):
                assert f"STATEMENT_SEARCH_{param.name.upper()}" in param.help, (name, param.name)
