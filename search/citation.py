"""A citation for one passage: who, what, when, where, which paragraph, and a checksum of the words."""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .errors import SearchError
from .types import DocumentInfo

FORMATS = ("text", "csl-json", "bibtex")


def permalink_path(doc_id: str, paragraph: int) -> str:
    """The document page anchored at the paragraph (web/pages.py: /documents/<id>, anchors #pN)."""
    return f"/documents/{quote(doc_id, safe='/')}?hit={paragraph}#p{paragraph}"


def passage_sha256(text: str) -> str:
    """sha256 of the passage text as stored (UTF-8), so a reader can check the words were not changed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def url_of(document: DocumentInfo) -> str | None:
    """The statement's web address: a `url` metadata field, else a source that is a URL."""
    url = document.extra.get("url") if document.extra else None
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        return url
    if document.source and re.match(r"https?://\S+$", document.source):
        return document.source
    return None


@dataclass(frozen=True)
class Citation:
    """Everything needed to cite one passage of one statement."""

    passage_id: int
    document: DocumentInfo
    paragraph: int
    of: int
    permalink: str
    sha256: str
    generation: str

    @classmethod
    def of_passage(cls, passage_id: int, text: str, document: DocumentInfo, paragraph: int, of: int,
                   generation: str, link: Callable[[str, int], str] = permalink_path) -> Citation:
        """Build from a hit's fields (SearchHit / QuoteMatch: id, text, document, paragraph, of)."""
        return cls(passage_id, document, paragraph, of, link(document.id, paragraph), passage_sha256(text),
                   generation)

    @property
    def url(self) -> str | None:
        return url_of(self.document)

    def text(self) -> str:
        d = self.document
        who = d.speaker or "Unknown speaker"
        parts = [f"{who}, “{d.title or d.id}”", d.date or "undated", f"paragraph {self.paragraph} of {self.of}"]
        out = ", ".join(parts) + "."
        if d.source:
            out += f" Source: {d.source}."
        if self.url and self.url != d.source:
            out += f" URL: {self.url}."
        return out + f" Permalink: {self.permalink}. Passage sha256: {self.sha256}; index generation {self.generation}."

    def csl_json(self) -> list[dict[str, Any]]:
        """CSL-JSON (an array of one item), as citation managers import it."""
        d = self.document
        item: dict[str, Any] = {"id": f"passage-{self.passage_id}", "type": "speech", "title": d.title or d.id,
                                "note": self._note()}
        if d.speaker:
            item["author"] = [{"literal": d.speaker}]
        if d.date:
            item["issued"] = {"date-parts": [[int(x) for x in d.date.split("-")]]}
        if d.source:
            item["publisher"] = d.source
        item["URL"] = self.url or self.permalink
        return [item]

    def bibtex(self) -> str:
        d = self.document
        fields = {"author": "{" + _tex(d.speaker) + "}" if d.speaker else None, "title": _tex(d.title or d.id),
                  "year": d.date[:4] if d.date else None, "date": d.date,
                  "howpublished": _tex(d.source) if d.source else None,
                  "url": self.url or self.permalink, "note": _tex(self._note())}
        body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items() if v)
        return f"@misc{{{self._key()},\n{body}\n}}\n"

    def render(self, fmt: str) -> str:
        """The citation as `text`, `csl-json` or `bibtex`; SearchError for another format."""
        if fmt == "text":
            return self.text()
        if fmt == "csl-json":
            return json.dumps(self.csl_json(), ensure_ascii=False, indent=2)
        if fmt == "bibtex":
            return self.bibtex()
        raise SearchError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}", code="invalid_format")

    def _note(self) -> str:
        return (f"Paragraph {self.paragraph} of {self.of}; permalink {self.permalink}; "
                f"passage sha256 {self.sha256}; index generation {self.generation}")

    def _key(self) -> str:
        name = re.sub(r"[^A-Za-z0-9]", "", (self.document.speaker or "statement").split()[-1]) or "statement"
        return f"{name.lower()}{(self.document.date or '')[:4]}p{self.passage_id}"


_TEX = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
        "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _tex(value: str | None) -> str:
    return "".join(_TEX.get(c, c) for c in value or "")
