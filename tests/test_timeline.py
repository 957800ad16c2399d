"""The timeline: series from matches and its server-rendered, accessible SVG."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from web.schemas import Timeline, dump
from web.timeline import OTHERS, TimelineSeries, render_timeline

MATCHES = [("1862-12-01", "Abraham Lincoln"), ("1862-12-01", "Abraham Lincoln"), ("1864-12-06", "Abraham Lincoln"),
           ("1982-01-26", "Ronald Reagan"), ("1862-05-01", "<script>x</script>"), (None, "Undated Person"),
           ("1863-01-01", None)]


def url(year):
    return f"/?q=war&after={year}-01-01&before={year}-12-31"


def test_series_counts_by_year_and_top_speakers():
    s = TimelineSeries.from_matches(MATCHES, top=2)
    assert s.years[0] == 1862 and s.years[-1] == 1982 and len(s.years) == 121
    assert s.speakers == ("Abraham Lincoln", "<script>x</script>", OTHERS)
    assert s.counts[0] == (2, 1, 0) and s.counts[1] == (0, 0, 1)  # 1863: the speakerless one is among others
    d = dump(Timeline.model_validate(s))  # what /api/search sends
    assert [y["year"] for y in d["years"]] == [1862, 1863, 1864, 1982]
    assert d["years"][-1] == {"year": 1982, "total": 1, "counts": [0, 0, 1]}


def test_svg_is_wellformed_accessible_and_links_each_bar():
    html = str(render_timeline(TimelineSeries.from_matches(MATCHES, top=2), url))
    svg = re.search(r"<svg class=\"timeline\".*?</svg>", html, re.S).group(0)  # the chart (legend swatches are svgs too)
    root = ET.fromstring(svg)  # well-formed XML
    ns = "{http://www.w3.org/2000/svg}"
    assert root.get("role") == "img" and root.find(f"{ns}title").text.startswith("Strong matches per year: 4 years")
    links = root.findall(f"{ns}a")
    assert [a.get("href") for a in links] == [url(y) for y in (1862, 1863, 1864, 1982)]
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    table = re.search(r"<table>.*</table>", html, re.S).group(0)
    assert table.count("<tr>") == 5 and '<a href="/?q=war&amp;after=1982-01-01&amp;before=1982-12-31">1982</a>' in table


def test_no_dated_matches_renders_nothing():
    assert str(render_timeline(TimelineSeries.from_matches([(None, "A")]), url)) == ""


def test_counts_give_the_series_the_matches_give():
    """The search sends (year, speaker, n) groups: the same series as n single matches, zero groups ignored."""
    groups = [("1862", "Abraham Lincoln", 2), ("1864", "Abraham Lincoln", 1), ("1982", "Ronald Reagan", 1),
              ("1862", "<script>x</script>", 1), ("1863", None, 1), ("1990", "Nobody", 0), (None, "Undated", 3)]
    singles = [(y, s) for y, s, n in groups for _ in range(n)]
    assert TimelineSeries.from_counts(groups, top=2) == TimelineSeries.from_matches(singles, top=2)
    assert TimelineSeries.from_counts(groups, top=2).years[-1] == 1982
