"""When was it said: strong matches per year, split by the top speakers, as accessible server-side SVG."""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

OTHERS = "Others"
PALETTE = ("#1f77b4", "#d95f02", "#1b9e77", "#7570b3", "#e7298a", "#666666")  # colour-blind friendly; last: others
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 160, 28, 22, 8


@dataclass(frozen=True)
class TimelineYear:
    year: int
    total: int
    counts: tuple[int, ...]   # per speaker, in the order of TimelineSeries.speakers


@dataclass(frozen=True)
class TimelineSeries:
    """Counts per (year, speaker); `speakers` are the top speakers by count, then OTHERS if any."""

    years: tuple[int, ...]                 # every year from the first to the last match, ascending
    speakers: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]    # counts[i][j]: year i, speaker j

    @classmethod
    def from_matches(cls, matches: Iterable[tuple[str | None, str | None]], top: int = 4) -> TimelineSeries:
        """From (date YYYY-MM-DD or None, speaker or None) of each strong match; undated ones are left out."""
        return cls.from_counts(((date, speaker, 1) for date, speaker in matches), top)

    @classmethod
    def from_counts(cls, counts: Iterable[tuple[str | None, str | None, int]], top: int = 4) -> TimelineSeries:
        """From (date or year, speaker, how many strong matches) groups: what the search's timeline holds
        (a thousand matches come as a few dozen groups, so nothing is counted one by one)."""
        dated = [(int(date[:4]), speaker or "Unknown", n) for date, speaker, n in counts
                 if date and date[:4].isdigit() and n > 0]
        if not dated:
            return cls((), (), ())
        per_speaker: Counter[str] = Counter()
        for _, speaker, n in dated:
            per_speaker[speaker] += n
        ranked = [s for s, _ in sorted(per_speaker.items(), key=lambda kv: (-kv[1], kv[0]))]
        speakers = ranked[:top] + ([OTHERS] if len(ranked) > top else [])
        column = {s: (speakers.index(s) if s in ranked[:top] else len(speakers) - 1) for s in ranked}
        first, last = min(y for y, _, _ in dated), max(y for y, _, _ in dated)
        grid = [[0] * len(speakers) for _ in range(first, last + 1)]
        for year, speaker, n in dated:
            grid[year - first][column[speaker]] += n
        return cls(tuple(range(first, last + 1)), tuple(speakers), tuple(tuple(r) for r in grid))

    def __bool__(self) -> bool:
        return bool(self.years)

    def total(self, i: int) -> int:
        return sum(self.counts[i])

    @property
    def matched_years(self) -> tuple[TimelineYear, ...]:
        """Only the years with matches, each with its count per speaker (what /api/search sends)."""
        totals = map(sum, self.counts)
        return tuple(TimelineYear(y, t, c) for y, t, c in zip(self.years, totals, self.counts) if t)


def render_timeline(series: TimelineSeries, year_url: Callable[[int], str],
                    title: str = "Strong matches per year") -> Markup:
    """An SVG bar chart (stacked by speaker, each bar a link to that year) and the same numbers as a table."""
    if not series:
        return Markup("")
    peak = max(series.total(i) for i in range(len(series.years)))
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    step = plot_w / len(series.years)
    bar = max(1.0, step * 0.8)
    colour = {s: PALETTE[min(j, len(PALETTE) - 2)] if s != OTHERS else PALETTE[-1]
              for j, s in enumerate(series.speakers)}
    parts = [f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
             f'aria-labelledby="timeline-title" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="timeline-title">{escape(title)}: '
             f'{len([i for i in range(len(series.years)) if series.total(i)])}'
             f' years with matches, {series.years[0]}–{series.years[-1]}; the table below has the numbers</title>',
             f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 4}" y2="{TOP + plot_h}" stroke="#999"/>',
             f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" font-size="10">{peak}</text>']
    for i, year in enumerate(series.years):
        total = series.total(i)
        if not total:
            continue
        x = LEFT + i * step + (step - bar) / 2
        y: float = TOP + plot_h
        rects = []
        for j, speaker in enumerate(series.speakers):
            n = series.counts[i][j]
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            rects.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{colour[speaker]}"><title>{year}, {escape(speaker)}: {n}</title></rect>')
        parts.append(f'<a href="{escape(year_url(year))}" aria-label="{year}: {total} matches; show only {year}">'
                     + "".join(rects) + "</a>")
    for label_year in _axis_years(series.years):
        x = LEFT + (label_year - series.years[0] + 0.5) * step
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="10">{label_year}</text>')
    parts.append("</svg>")
    return Markup("<figure class=\"timeline\">" + "".join(parts) + _legend(series, colour)
                  + _table(series, year_url, title) + "</figure>")


def _axis_years(years: tuple[int, ...], labels: int = 6) -> list[int]:
    if len(years) <= labels:
        return list(years)
    stride = -(-len(years) // labels)
    return list(years[::stride])


def _legend(series: TimelineSeries, colour: dict[str, str]) -> str:
    # An SVG swatch coloured by its fill attribute: no inline style, which the Content-Security-Policy refuses.
    items = "".join(f'<li><svg class="swatch" width="10" height="10" aria-hidden="true">'
                    f'<rect width="10" height="10" fill="{colour[s]}"/></svg>{escape(s)}</li>'
                    for s in series.speakers)
    return f'<ul class="timeline-legend">{items}</ul>'


def _table(series: TimelineSeries, year_url: Callable[[int], str], title: str) -> str:
    head = "".join(f'<th scope="col">{escape(s)}</th>' for s in series.speakers)
    body = "".join(
        f'<tr><th scope="row"><a href="{escape(year_url(y))}">{y}</a></th>'
        + "".join(f"<td>{n}</td>" for n in series.counts[i]) + f"<td>{series.total(i)}</td></tr>"
        for i, y in enumerate(series.years) if series.total(i))
    return (f'<details class="timeline-table"><summary>{escape(title)} as a table</summary><table>'
            f'<caption>{escape(title)}</caption><thead><tr><th scope="col">Year</th>{head}'
            f'<th scope="col">Total</th></tr></thead><tbody>{body}</tbody></table></details>')


def series_of(response: Any) -> TimelineSeries:
    """The timeline of a SearchResponse: its strong matches over the facets' depth (`response.timeline`)."""
    return TimelineSeries.from_counts(response.timeline)
