"""A `Report` as text for the terminal, CSV for a spreadsheet, or one self-contained HTML page."""

from __future__ import annotations

import csv
import io
import textwrap
from html import escape

from knowledge.result import STATUSES, Status

from .report import REASON_LABELS, Day, EntryUse, Report, reason_counts

COLOURS: dict[Status, str] = {"answer": "#2e7d32", "suggest": "#f9a825", "none": "#c62828"}
LABELS: dict[Status, str] = {"answer": "answered", "suggest": "suggested", "none": "declined"}
MAX_WORDINGS = 3


def render(report: Report, form: str) -> str:
    return {"text": as_text, "csv": as_csv, "html": as_html}[form](report)


def _period(report: Report) -> str:
    return f"{report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def _summary(report: Report) -> list[str]:
    o = report.outcomes
    return [
        f"Questions: {report.questions} (answered {o['answer']}, {_percent(o['answer'], report.questions)}; "
        f"suggested {o['suggest']}; declined {o['none']})",
        "By surface: " + ", ".join(f"{s} {n}" for s, n in report.surfaces.items()),
        f"Votes: {report.helpful + report.unhelpful} ({report.helpful} helpful, {report.unhelpful} not helpful)",
        f"Answers posted by clicks (related questions, topics, suggestions; not counted as questions): "
        f"{report.clicked}",
        _taught(report),
    ]


MAX_REASON_TEXTS = 5  # what people wrote, per entry, in the text and HTML reports (CSV: all of it)


def _reasons(report: Report) -> list[tuple[str, str, list[str]]]:
    """(entry, the reasons chosen and how often, what people wrote) for each entry with a reason, least helpful
    first."""
    found = []
    for entry in report.least_helpful(len(report.entries)):
        given = report.reasons_for(entry.id)
        if given:
            chosen = ", ".join(f"{label} {n}" for label, n in reason_counts(given)) or "no reason chosen"
            found.append((entry.id, chosen, [" ".join(r.text.split()) for r in given if r.text]))
    return found


def _answered(answered: int, asked: int) -> str:
    return f"{_percent(answered, asked)} of {asked}" if asked else "no questions"


def _taught(report: Report) -> str:
    """How many phrasings admins taught, and the answer rate before the first of them and since."""
    if report.first_taught is None:
        return "Taught from Slack: none"
    plural = "" if report.taught == 1 else "s"
    return (f"Taught from Slack: {report.taught} phrasing{plural} (the first {report.first_taught:%Y-%m-%d %H:%M}); "
            f"answered before it: {_answered(report.answered_before, report.asked_before)}, "
            f"since: {_answered(report.answered_after, report.asked_after)}")


def _others(wordings: tuple[str, ...]) -> str:
    others = wordings[1:]
    if not others:
        return ""
    shown = "; ".join(f'"{w}"' for w in others[:MAX_WORDINGS])
    more = f"; +{len(others) - MAX_WORDINGS} more" if len(others) > MAX_WORDINGS else ""
    return f"also: {shown}{more}"


def _used(report: Report) -> list[EntryUse]:
    return [e for e in report.entries if e.answered or e.votes]


def _idle(report: Report) -> list[str]:
    """Entries nobody got in the period: listed in one line rather than as rows of zeros."""
    return [e.id for e in report.entries if not (e.answered or e.votes)]


def as_text(report: Report) -> str:
    lines = [f"openllm-bot report, {_period(report)}", *_summary(report), ""]
    lines.append("Unanswered questions (declined or only suggestions), near-duplicates grouped, most asked first:")
    if not report.unanswered and not report.text_not_kept:
        lines.append("  none")
    for g in report.unanswered:
        guess = f", did you mean: {g.guess}" if g.guess else ""
        taught = "; taught since" if g.taught else ""
        lines.append(f"  {g.count:>4}x  \"{g.text}\"  (declined {g.declined}, suggested {g.suggested}{guess}{taught})")
        if others := _others(g.wordings):
            lines.append(f"         {others}")
    if report.text_not_kept:
        lines.append(f"  {report.text_not_kept:>4}x  (text not kept: STORE_QUESTION_TEXT=false)")
    if report.not_grouped:
        lines.append(f"  {report.not_grouped:>4}x  (older, not grouped)")
    lines += ["", "Per entry:", f"  {'entry':<32} {'answered':>8} {'helpful':>8} {'not helpful':>12}"]
    lines += [f"  {e.id:<32} {e.answered:>8} {e.helpful:>8} {e.unhelpful:>12}" for e in _used(report)]
    if idle := _idle(report):
        lines += textwrap.wrap("Not answered and no votes: " + ", ".join(idle), width=100,
                               initial_indent="  ", subsequent_indent="    ")
    if reasons := _reasons(report):
        lines += ["", "Why answers were not helpful (👎 with a reason):"]
        for entry_id, chosen, texts in reasons:
            lines.append(f"  {entry_id}: {chosen}")
            lines += [f'    "{text}"' for text in texts[:MAX_REASON_TEXTS]]
            if len(texts) > MAX_REASON_TEXTS:
                lines.append(f"    +{len(texts) - MAX_REASON_TEXTS} more (--format csv lists them all)")
    lines += ["", "Per day:", f"  {'day':<10} {'total':>6} {'answered':>9} {'suggested':>10} {'declined':>9}"]
    lines += [f"  {d.day.isoformat():<10} {d.total:>6} {d.answer:>9} {d.suggest:>10} {d.none:>9}"
              for d in report.days]
    return "\n".join(lines) + "\n"


# What a spreadsheet reads as the start of a formula (OWASP's CSV injection list): a cell of text starting with one of
# these gets a leading apostrophe, so that a question such as `=cmd|'/C calc'!A0` stays text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """`value` safe to open in a spreadsheet: text that would start a formula is prefixed with `'`."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _SafeWriter:
    """csv.writer whose every text cell goes through `csv_cell`. Lines end in CRLF (RFC 4180), so that a carriage
    return inside a cell gets the cell quoted rather than splitting its row."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")

    def writerow(self, row: list[object] | tuple[object, ...]) -> None:
        self._writer.writerow([csv_cell(value) for value in row])


CSV_COLUMNS = ("section", "item", "count", "answered", "suggested", "declined", "helpful", "not_helpful", "detail")


def as_csv(report: Report) -> str:
    """One table, a `section` column telling the kinds of row apart: unanswered, entry, day, surface, taught."""
    out = io.StringIO()
    writer = _SafeWriter(out)
    writer.writerow(CSV_COLUMNS)
    for g in report.unanswered:
        writer.writerow(["unanswered", g.text, g.count, "", g.suggested, g.declined, "", "",
                         ("(taught since) " if g.taught else "") + " | ".join(g.wordings[1:])])
    if report.text_not_kept:
        writer.writerow(["unanswered", "", report.text_not_kept, "", "", "", "", "", "text not kept"])
    for e in report.entries:
        writer.writerow(["entry", e.id, e.answered, e.answered, "", "", e.helpful, e.unhelpful,
                         f"{e.clicked} by clicks" if e.clicked else ""])
    for r in report.reasons:  # one row per reason given: the entry, the choice, the words
        writer.writerow(["reason", r.entry_id, 1, "", "", "", "", 1, ": ".join(
            part for part in (REASON_LABELS.get(r.reason or "", ""), r.text or "") if part)])
    for d in report.days:
        writer.writerow(["day", d.day.isoformat(), d.total, d.answer, d.suggest, d.none, "", "", ""])
    for surface, count in report.surfaces.items():
        writer.writerow(["surface", surface, count, "", "", "", "", "", ""])
    first = f"first {report.first_taught:%Y-%m-%d %H:%M}" if report.first_taught else ""
    writer.writerow(["taught", "phrasings taught", report.taught, "", "", "", "", "", first])
    if report.first_taught:
        for item, asked, answered in (("asked before the first", report.asked_before, report.answered_before),
                                      ("asked since the first", report.asked_after, report.answered_after)):
            rate = f"{_percent(answered, asked)} answered" if asked else ""
            writer.writerow(["taught", item, asked, answered, "", "", "", "", rate])
    return out.getvalue()


def chart_svg(days: tuple[Day, ...], width: int = 720, height: int = 220) -> str:
    """Questions per day as stacked bars (answered, suggested, declined), drawn inline."""
    left, bottom, top = 36, 28, 12
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max((d.total for d in days), default=0) or 1
    slot = plot_w / max(len(days), 1)
    bar = max(min(slot * 0.7, 48), 1)
    parts = [f'<svg id="volume-chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="Questions per day by outcome">',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - 8}" y2="{top + plot_h}" stroke="#888"/>',
             f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="11">{peak}</text>',
             f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="11">0</text>']
    label_every = max(1, len(days) // 10)
    for i, d in enumerate(days):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for outcome in STATUSES:
            count = getattr(d, outcome)
            if count:
                h = plot_h * count / peak
                y -= h
                parts.append(f'<rect class="bar {outcome}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                             f'height="{h:.1f}" fill="{COLOURS[outcome]}"><title>{d.day}: {count} '
                             f'{LABELS[outcome]}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{x + bar / 2:.1f}" y="{height - 10}" text-anchor="middle" '
                         f'font-size="11">{d.day:%m-%d}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(head: list[str], rows: list[list[object]]) -> str:
    cells = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;color:#222;
padding:0 1rem}h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}td:not(:first-child),
th:not(:first-child){text-align:right}.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .3rem 0 1rem;
vertical-align:middle}.wordings{color:#666;font-size:.9em}
"""


def as_html(report: Report) -> str:
    """One page, nothing fetched: styles and the chart inline, and a policy that forbids loading anything."""
    legend = "".join(f'<span style="background:{COLOURS[o]}"></span>{LABELS[o]}' for o in COLOURS)
    unanswered_rows: list[list[object]] = []
    for g in report.unanswered:
        unanswered_rows.append([g.text + (f"  ({_others(g.wordings)})" if len(g.wordings) > 1 else "")
                                + ("  (taught since)" if g.taught else ""),
                                g.count, g.declined, g.suggested, g.guess or ""])
    if report.text_not_kept:
        unanswered_rows.append(["(text not kept: STORE_QUESTION_TEXT=false)", report.text_not_kept, "", "", ""])
    reason_rows: list[list[object]] = [[entry_id, chosen, " | ".join(f'"{t}"' for t in texts[:MAX_REASON_TEXTS])
                                        + (f" (+{len(texts) - MAX_REASON_TEXTS} more)"
                                           if len(texts) > MAX_REASON_TEXTS else "")]
                                       for entry_id, chosen, texts in _reasons(report)]
    summary = "".join(f"<li>{escape(line)}</li>" for line in _summary(report))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>openllm-bot report, {escape(_period(report))}</title><style>{_STYLE}</style></head>
<body><h1>openllm-bot report</h1><p>{escape(_period(report))}</p><ul>{summary}</ul>
<h2>Questions per day</h2><div class="legend">{legend}</div>{chart_svg(report.days)}
<h2>Unanswered questions</h2><p>Declined or answered only with suggestions; near-duplicates grouped, most asked
first.</p>{_table(["question", "asked", "declined", "suggested", "did you mean"], unanswered_rows)}
<h2>Per entry</h2>{_table(["entry", "answered", "helpful", "not helpful"],
                           [[e.id, e.answered, e.helpful, e.unhelpful] for e in _used(report)])}
{f"<p>Not answered and no votes: {escape(', '.join(_idle(report)))}</p>" if _idle(report) else ""}
{"<h2>Why answers were not helpful</h2>" + _table(["entry", "reasons chosen", "what people wrote"], reason_rows)
 if reason_rows else ""}
<h2>Per day</h2>{_table(["day", "total", "answered", "suggested", "declined"],
                         [[d.day.isoformat(), d.total, d.answer, d.suggest, d.none] for d in report.days])}
<h2>Per surface</h2>{_table(["surface", "questions"], [[s, n] for s, n in report.surfaces.items()])}
</body></html>
"""
