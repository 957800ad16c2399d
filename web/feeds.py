"""An Atom feed of a saved search's matches, written by feedgen (a kept library that gets the XML, the
namespaces, the dates and the escaping right: a hand-written template would have to re-learn them)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from search.watchlists import Match, SavedSearch


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def atom(saved: SavedSearch, matches: Sequence[Match], self_url: str, page_url: str,
         document_url: Callable[[Match], str]) -> bytes:
    """The feed: one entry per match, newest first; entry ids are the matches' stable urn:uuid ids."""
    # Imported here, not at the top: feedgen brings lxml (about 5 MB resident), which a server process
    # that never serves a feed should not carry (docs/performance.md, "Worker memory").
    from feedgen.feed import FeedGenerator

    fg = FeedGenerator()
    fg.id(self_url)
    fg.title(f"statement-search: {saved.name}")
    fg.subtitle(f"New statements that answer “{saved.question}”")
    fg.link(href=self_url, rel="self", type="application/atom+xml")
    fg.link(href=page_url, rel="alternate", type="text/html")
    fg.author({"name": "statement-search"})
    fg.generator("statement-search")
    fg.updated(_when(max([m.found_at for m in matches], default=saved.created_at)))
    for m in reversed(matches):  # feedgen puts the last added entry first
        entry = fg.add_entry()
        entry.id(f"urn:uuid:{m.uid}")
        who = " · ".join(x for x in (m.speaker, m.date, m.title or m.doc_id) if x)
        entry.title(f"{who} — paragraph {m.paragraph} of {m.of}")
        entry.link(href=document_url(m), rel="alternate", type="text/html")
        entry.updated(_when(m.found_at))
        entry.published(_when(m.found_at))
        if m.speaker:
            entry.author({"name": m.speaker})
        entry.content(m.text, type="text")
        entry.summary(m.text[:280], type="text")
    return fg.atom_str(pretty=True)
