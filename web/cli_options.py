"""The command line's shared options, defined once: a setting's flag takes its help from the Settings
object (search/settings.py) and names its environment variable; the filters are those of the API.

Each is a click decorator; `filter_options` applies the four filters (`--speaker`, `--after`, `--before`,
`--source`) at once, with the same meaning as the API's fields (web/schemas.FilterFields).
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from index.embedder import BACKENDS
from search.errors import StatementSearchError
from search.settings import Settings

from .errors import exit_code

F = TypeVar("F", bound=Callable[..., Any])
HELP = Settings.help()


def fail(exc: StatementSearchError) -> NoReturn:
    """Every command's end on a domain error: its message on stderr, its exit code (web/errors.exit_code)."""
    click.echo(f"error: {exc.message}", err=True)
    sys.exit(exit_code(exc))


def setting_help(name: str, extra: str = "") -> str:
    """A setting's one-line help, then `extra`, then its environment variable."""
    return f"{HELP[name]}{' ' + extra if extra else ''} [env {Settings.env_name(name)}]"


def setting_option(*flags: str, name: str, extra: str = "", **attrs: Any) -> Callable[[F], F]:
    """An option that overrides setting `name` (None when not given: the environment or default applies)."""
    return click.option(*flags, name, help=setting_help(name, extra), **attrs)


index_option = setting_option("--index", name="index", type=click.Path(path_type=Path))
corpus_option = setting_option("--corpus", name="corpus", type=click.Path(path_type=Path))
model_option = setting_option("--model", name="model")
backend_option = setting_option("--backend", name="embedding_backend", type=click.Choice(BACKENDS))
quiet_option = click.option("--quiet", is_flag=True, help="No progress bar.")
language_option = click.option("--language", multiple=True, help="Only passages in this language (ISO 639-1 code "
                               "such as en, ru, uk, or und: undetected; repeatable; any of).")

_FILTERS = (
    click.option("--speaker", multiple=True, help="Only statements by this speaker (repeatable; any of)."),
    click.option("--after", help="Only statements dated on or after this day (YYYY-MM-DD, YYYY-MM or YYYY)."),
    click.option("--before", help="Only statements dated on or before this day (YYYY-MM-DD, YYYY-MM or YYYY)."),
    click.option("--source", multiple=True, help="Only statements whose source contains this text (repeatable)."),
)


def filter_options(command: F) -> F:
    """--speaker, --after, --before, --source (the API's filters), in that order in --help."""
    for option in reversed(_FILTERS):
        command = option(command)
    return command


def filter_values(speaker: tuple[str, ...], after: str | None, before: str | None,
                  source: tuple[str, ...]) -> list[tuple[str, str]]:
    """The filter options as (name, value) pairs of a query string (web/schemas.query_string_values)."""
    pairs = [("speaker", s) for s in speaker] + [("source", s) for s in source]
    return pairs + [(name, value) for name, value in (("after", after), ("before", before)) if value is not None]
