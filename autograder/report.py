"""`autograder report`: the class at a glance, one self-contained HTML page per assignment (and an overview).

What must hold: the page reads only what grading wrote under OUT (``results/<student>/<a>.json``, ``grades.csv``,
the gradebook for late penalties and manual points, ``autograded/`` for the similarity of solution cells) and
changes none of it. It is self-contained: plots are PNGs (matplotlib, Agg) inlined as ``data:`` URIs, the table
sorting is a few lines of inline script, nothing is fetched from anywhere. Every text that came from a student
(ids, messages, code) is HTML-escaped, so a submission cannot put markup or script on the instructor's page.

Sections: the score distribution; per check its pass rate and points, and its failure messages grouped with the
numbers in them normalised (``3 != 4`` and ``5 != 6`` are one group); per student the status, the scores, late
and manual points, when and how long grading took; pairs of similar solution cells (``autograder.similarity``).
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import statistics
from collections import Counter, defaultdict
from pathlib import Path

from autograder.paths import RELEASE_DIR
from autograder.records import GRADED_STATUSES

MESSAGE_GROUP_CHARS = 160  # messages are grouped on their first characters, after normalising
TOP_MESSAGES = 5  # failure message groups shown per check
_NUMBER = re.compile(r"0x[0-9a-fA-F]+|[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def normalise_message(message: str) -> str:
    """A failure message with its numbers (values, shapes, addresses) as ``#``, for grouping."""
    return " ".join(_NUMBER.sub("#", message).split())[:MESSAGE_GROUP_CHARS]


def read_records(out_dir: Path, assignment: str) -> list[dict]:
    """The result records of ``assignment`` under ``OUT/results``, by student id; an unreadable one is skipped."""
    records = []
    for path in sorted((Path(out_dir) / "results").glob(f"*/{assignment}.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            records.append({"student_id": path.parent.name, "assignment": assignment, "score": 0.0,
                            "max_score": 0.0, "status": "unreadable record", "checks": [],
                            "message": f"{path} could not be read"})
    return sorted(records, key=lambda r: str(r.get("student_id", "")))


def graded_assignments(out_dir: Path) -> list[str]:
    return sorted({p.stem for p in (Path(out_dir) / "results").glob("*/*.json")})


def _csv_rows(out_dir: Path, assignment: str) -> dict[str, dict]:
    path = Path(out_dir) / "grades.csv"
    if not path.is_file():
        return {}
    with path.open(newline="") as handle:
        return {r["student_id"]: r for r in csv.DictReader(handle) if r.get("assignment") == assignment}


def _totals(out_dir: Path, assignment: str, db_url: str | None) -> dict:
    # Deferred: nbformat and nbgrader's gradebook, which the report's pages need not load.
    from autograder.term import gradebook_totals

    if db_url is None:
        db = Path(out_dir) / "gradebook.db"
        if not db.is_file():
            return {}
        db_url = f"sqlite:///{db.resolve()}"
    try:
        return gradebook_totals(db_url, assignment)
    except Exception:  # no gradebook or another course's: the page still shows the records
        return {}


def check_stats(records: list[dict]) -> list[dict]:
    """Per check (in notebook order): how many students passed, its points, its failure messages grouped."""
    stats: dict[tuple[str, str], dict] = {}
    for record in records:
        for check in record.get("checks", []):
            key = (str(check.get("notebook", "")), str(check.get("grade_id", "")))
            entry = stats.setdefault(key, {"notebook": key[0], "grade_id": key[1], "passed": 0, "total": 0,
                                           "max_score": float(check.get("max_score", 0.0)),
                                           "hidden": bool(check.get("hidden")), "failures": Counter(),
                                           "example": {}, "students": defaultdict(list)})
            entry["total"] += 1
            if check.get("passed"):
                entry["passed"] += 1
            else:
                message = str(check.get("message") or "failed")
                group = normalise_message(message)
                entry["failures"][group] += 1
                entry["example"].setdefault(group, message)
                entry["students"][group].append(str(record.get("student_id", "")))
    for entry in stats.values():
        entry["pass_rate"] = entry["passed"] / entry["total"] if entry["total"] else 0.0
    return list(stats.values())


def student_rows(records: list[dict], csv_rows: dict, totals: dict) -> list[dict]:
    """Per student: status, scores (the gradebook's where it has them, as grades.csv), late, grading time."""
    rows = []
    for record in records:
        student = str(record.get("student_id", ""))
        found, row = totals.get(student), csv_rows.get(student, {})
        max_total = found.max_score if found else _number(row.get("total_max"),
                                                           record.get("max_score", 0.0)
                                                           + (record.get("manual_max_score") or 0.0))
        total = found.total if found else _number(row.get("total"), record.get("score", 0.0))
        failed = [c for c in record.get("checks", []) if not c.get("passed")]
        rows.append({
            "student_id": student,
            "status": str(record.get("status", "")),
            "auto": float(record.get("score", 0.0)),
            "auto_max": float(record.get("max_score", 0.0)),
            "manual": (found.manual_score if found else _number(row.get("manual_score"), 0.0)),
            "manual_pending": bool(found.needs_manual_grade) if found else row.get("needs_manual_grade") == "True",
            "late_penalty": found.late_penalty if found else _number(row.get("late_penalty"), 0.0),
            "hours_late": (found.seconds_late / 3600 if found else 0.0),
            "total": total,
            "total_max": max_total,
            "failed": len(failed),
            "graded_at": str(record.get("graded_at", "")),
            "grading_seconds": record.get("grading_seconds"),
            "message": str(record.get("message", "")),
        })
    return rows


def _number(text, default) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float(default or 0.0)


# ---- plots -------------------------------------------------------------------------------------------------

def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def score_plot(rows: list[dict]) -> str:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3))
    percents = [100 * r["total"] / r["total_max"] if r["total_max"] else 0.0 for r in rows]
    axis.hist(percents, bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.001], color="#4a78b5", edgecolor="white")
    axis.set_xlabel("total (% of the maximum)")
    axis.set_ylabel("students")
    axis.set_title(f"score distribution ({len(rows)} students)")
    return _png(figure)


def pass_rate_plot(stats: list[dict]) -> str:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 0.9 + 0.28 * max(1, len(stats))))
    labels = [s["grade_id"] for s in stats][::-1]
    rates = [100 * s["pass_rate"] for s in stats][::-1]
    axis.barh(labels, rates, color=["#c0504d" if r < 50 else "#4a78b5" for r in rates])
    axis.set_xlim(0, 100)
    axis.set_xlabel("students passing (%)")
    axis.set_title("pass rate per check")
    return _png(figure)


def time_plot(rows: list[dict]) -> str | None:
    seconds = [r["grading_seconds"] for r in rows if isinstance(r["grading_seconds"], (int, float))]
    if not seconds:
        return None
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 2.6))
    axis.hist(seconds, bins=min(20, max(5, len(seconds))), color="#8064a2", edgecolor="white")
    axis.set_xlabel("wall time to grade one submission (s)")
    axis.set_ylabel("students")
    return _png(figure)


def overview_plot(summaries: list[dict]) -> str:
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 3))
    data = [s["percents"] or [0.0] for s in summaries]
    axis.boxplot(data, tick_labels=[s["assignment"] for s in summaries])
    axis.set_ylabel("total (% of the maximum)")
    axis.set_ylim(-2, 102)
    axis.tick_params(axis="x", rotation=20)
    axis.set_title("totals per assignment")
    return _png(figure)


# ---- HTML --------------------------------------------------------------------------------------------------

e = html.escape

STYLE = """body{font-family:sans-serif;margin:1.5em;max-width:1200px}table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top;text-align:left}th{background:#eef;cursor:pointer}
td.n{text-align:right}tr.bad td{background:#fdecea}pre{margin:0;white-space:pre-wrap;max-width:540px;font-size:90%}
.note{color:#555}img{display:block;margin:.5em 0}"""
# Sorting our own tables: click a header; numbers sort by their data-v value. Reads cells, never writes markup.
SORT_SCRIPT = """document.querySelectorAll('table.sortable').forEach(function(table){
table.querySelectorAll('thead th').forEach(function(th, col){th.addEventListener('click',function(){
var body=table.tBodies[0],rows=Array.from(body.rows),up=th.dataset.up!=='1';th.dataset.up=up?'1':'0';
rows.sort(function(a,b){var x=a.cells[col],y=b.cells[col],p=parseFloat(x.dataset.v),q=parseFloat(y.dataset.v),
c=(!isNaN(p)&&!isNaN(q))?p-q:x.textContent.localeCompare(y.textContent);return up?c:-c;});
rows.forEach(function(r){body.appendChild(r);});});});});"""


def _table(headers: list[str], rows: list[list], row_classes: list[str] | None = None) -> str:
    """A sortable table; a cell is text (escaped) or (text, sort value) for numbers; ``rows`` are escaped here."""
    out = ['<table class="sortable"><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in headers)
           + "</tr></thead><tbody>"]
    for index, row in enumerate(rows):
        klass = f' class="{e(row_classes[index])}"' if row_classes and row_classes[index] else ""
        cells = []
        for cell in row:
            if isinstance(cell, tuple):
                text, value = cell
                cells.append(f'<td class="n" data-v="{e(str(value))}">{e(str(text))}</td>')
            elif isinstance(cell, Raw):
                cells.append(f"<td>{cell.markup}</td>")
            else:
                cells.append(f"<td>{e(str(cell))}</td>")
        out.append(f"<tr{klass}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


class Raw:
    """Markup we built ourselves (its student-derived parts already escaped)."""

    def __init__(self, markup: str):
        self.markup = markup


def _page(title: str, body: list[str]) -> str:
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(body)
            + f"\n<script>{SORT_SCRIPT}</script>\n</body></html>\n")


def _fmt(value: float) -> str:
    return f"{value:g}"


def assignment_page(*, assignment: str, records: list[dict], rows: list[dict], stats: list[dict],
                    pairs: list, similarity_note: str) -> str:
    totals = [r["total"] for r in rows]
    statuses = Counter(r["status"] for r in rows)
    body = [f"<h1>Class report: {e(assignment)}</h1>",
            f'<p>{len(rows)} students; statuses: {e(", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))}'
            + (f"; total mean {statistics.mean(totals):.2f}, median {statistics.median(totals):g} of "
               f"{_fmt(max(r['total_max'] for r in rows))}" if rows else "") + "</p>"]
    if rows:
        body.append(f'<img alt="score distribution" src="{score_plot(rows)}">')
    body.append("<h2>Checks</h2>")
    if stats:
        body.append(f'<img alt="pass rate per check" src="{pass_rate_plot(stats)}">')
    check_rows = []
    for s in stats:
        groups = []
        for group, count in s["failures"].most_common(TOP_MESSAGES):
            who = s["students"][group]
            groups.append(f"<li>{count}&times; <code>{e(s['example'][group][:400])}</code>"
                          f' <span class="note">({e(", ".join(who[:8]))}{", ..." if len(who) > 8 else ""})</span>'
                          "</li>")
        more = len(s["failures"]) - TOP_MESSAGES
        failures = ("<ul>" + "".join(groups) + (f"<li>{more} more kinds</li>" if more > 0 else "") + "</ul>"
                    if groups else "")
        check_rows.append([s["grade_id"] + (" (hidden)" if s["hidden"] else ""), s["notebook"],
                           (_fmt(s["max_score"]), s["max_score"]),
                           (f"{100 * s['pass_rate']:.0f}% ({s['passed']}/{s['total']})", s["pass_rate"]),
                           Raw(failures)])
    body.append(_table(["check", "notebook", "points", "pass rate", "most common failures"], check_rows,
                       ["bad" if s["pass_rate"] < 0.5 else "" for s in stats]))
    body.append("<h2>Students</h2>")
    plot = time_plot(rows)
    if plot:
        body.append(f'<img alt="grading time" src="{plot}">')
    body.append('<p class="note">Times are the wall time of the whole submission (the worker does not record '
                "per-cell times). Records graded before timing was added show none.</p>")
    student_table = []
    for r in rows:
        late = ", ".join(filter(None, (f"{r['hours_late']:.1f} h late" if r["hours_late"] > 0 else "",
                                       f"-{_fmt(r['late_penalty'])}" if r["late_penalty"] else "")))
        manual = "pending" if r["manual_pending"] else _fmt(r["manual"])
        seconds = r["grading_seconds"]
        student_table.append([
            r["student_id"], r["status"], (f"{_fmt(r['auto'])} / {_fmt(r['auto_max'])}", r["auto"]),
            (manual, -1 if r["manual_pending"] else r["manual"]), (late, r["late_penalty"]),
            (f"{_fmt(r['total'])} / {_fmt(r['total_max'])}", r["total"]), (r["failed"], r["failed"]),
            r["graded_at"], (f"{seconds:.1f}" if isinstance(seconds, (int, float)) else "", seconds or 0),
            Raw(f"<pre>{e(r['message'][:600])}</pre>" if r["message"] else "")])
    body.append(_table(["student", "status", "auto", "by hand", "late", "total", "checks failed", "graded at",
                        "seconds", "notes"], student_table,
                       ["" if r["status"] in GRADED_STATUSES else "bad" for r in rows]))
    body.append("<h2>Similar solutions</h2>")
    body.append(f'<p class="note">{e(similarity_note)}</p>')
    if pairs:
        body.append(_table(["cell", "students", "similarity", "code", "code"], [
            [f"{p.grade_id} ({p.notebook})", f"{p.student_a} / {p.student_b}",
             (f"{100 * p.similarity:.0f}%", p.similarity),
             Raw(f"<b>{e(p.student_a)}</b><pre>{e(p.code_a)}</pre>"),
             Raw(f"<b>{e(p.student_b)}</b><pre>{e(p.code_b)}</pre>")] for p in pairs]))
    else:
        body.append("<p>No pair of solution cells above the threshold.</p>")
    return _page(f"{assignment}: class report", body)


def write_report(*, out_dir: Path, assignment: str | None = None, dest: Path | None = None,
                 db_url: str | None = None, release_dir: Path = RELEASE_DIR, config=None,
                 notebooks_dir: Path | None = None) -> Path:
    """Write the report of ``assignment`` (default ``OUT/report/<assignment>.html``), or with ``assignment``
    None the overview of every assignment graded under ``out_dir`` (``OUT/report/index.html``, with each
    assignment's page next to it). ``config`` (nbgrader_config.py's) gives ``c.Autograder.similarity_*``.
    Returns the page written; FileNotFoundError when nothing was graded there."""
    out_dir = Path(out_dir)
    names = [assignment] if assignment else graded_assignments(out_dir)
    if not names or not read_records(out_dir, names[0]):
        what = f"no result records of {assignment!r}" if assignment else "no result records"
        raise FileNotFoundError(f"{what} under {out_dir / 'results'}: run `autograder grade ... --out {out_dir}` "
                                "first (or give the folder it wrote)")
    report_dir = Path(dest).parent if dest and assignment else (Path(dest) if dest else out_dir / "report")
    report_dir.mkdir(parents=True, exist_ok=True)
    summaries = []
    for name in names:
        page, summary = _assignment_report(out_dir=out_dir, assignment=name, db_url=db_url,
                                           release_dir=release_dir, config=config, notebooks_dir=notebooks_dir)
        path = Path(dest) if (dest and assignment) else report_dir / f"{name}.html"
        path.write_text(page)
        summaries.append(summary)
    if assignment:
        return path
    index = report_dir / "index.html"
    index.write_text(overview_page(summaries))
    return index


def _assignment_report(*, out_dir: Path, assignment: str, db_url, release_dir, config, notebooks_dir):
    # Deferred: nbformat and NumPy, which only the similarity section needs.
    from autograder.similarity import SimilaritySettings, find_similar

    records = read_records(out_dir, assignment)
    rows = student_rows(records, _csv_rows(out_dir, assignment), _totals(out_dir, assignment, db_url))
    stats = check_stats(records)
    settings = SimilaritySettings.from_config(config)
    try:
        pairs = find_similar(out_dir=out_dir, assignment=assignment, release_dir=release_dir, settings=settings,
                             notebooks_dir=notebooks_dir)
        note = (f"Solution cells compared after removing the release stub's lines and normalising names, strings, "
                f"comments and whitespace (copydetect fingerprints, {settings.similarity_noise_chars}-character "
                f"k-grams); pairs at or above {100 * settings.similarity_threshold:.0f}% "
                "(c.Autograder.similarity_threshold) are listed; cells shorter than "
                f"{settings.similarity_min_chars} normalised characters are not compared. A pair is a lead to "
                "read, not a verdict: short canonical solutions can match by themselves.")
    except Exception as error:  # the rest of the page is still worth having
        pairs, note = [], f"similarity not computed: {type(error).__name__}: {error}"
    page = assignment_page(assignment=assignment, records=records, rows=rows, stats=stats, pairs=pairs,
                           similarity_note=note)
    summary = {"assignment": assignment, "students": len(rows),
               "percents": [100 * r["total"] / r["total_max"] if r["total_max"] else 0.0 for r in rows],
               "statuses": Counter(r["status"] for r in rows), "pairs": len(pairs),
               "hardest": min(stats, key=lambda s: s["pass_rate"]) if stats else None,
               "totals": {r["student_id"]: (r["total"], r["total_max"]) for r in rows}}
    return page, summary


def overview_page(summaries: list[dict]) -> str:
    body = ["<h1>Class overview</h1>", f'<img alt="totals per assignment" src="{overview_plot(summaries)}">']
    rows = []
    for s in summaries:
        hardest = s["hardest"]
        rows.append([Raw(f'<a href="{e(s["assignment"])}.html">{e(s["assignment"])}</a>'),
                     (s["students"], s["students"]),
                     (f"{statistics.mean(s['percents']):.0f}%" if s["percents"] else "",
                      statistics.mean(s["percents"]) if s["percents"] else 0),
                     ", ".join(f"{n} {k}" for k, n in sorted(s["statuses"].items())),
                     f"{hardest['grade_id']} ({100 * hardest['pass_rate']:.0f}%)" if hardest else "",
                     (s["pairs"], s["pairs"])])
    body.append(_table(["assignment", "students", "mean total", "statuses", "hardest check", "similar pairs"], rows))
    students = sorted({student for s in summaries for student in s["totals"]})
    table = []
    for student in students:
        row = [student]
        for s in summaries:
            found = s["totals"].get(student)
            row.append((f"{_fmt(found[0])} / {_fmt(found[1])}", found[0]) if found else ("-", -1))
        table.append(row)
    body.append("<h2>Students</h2>")
    body.append(_table(["student"] + [s["assignment"] for s in summaries], table))
    return _page("class overview", body)
