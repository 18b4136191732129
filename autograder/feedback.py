"""Per-student feedback: an HTML page built from the result record and the gradebook's totals (never from
the executed notebook, so no hidden test source and no traceback can reach it). The grader's points and
comments come from the gradebook; `autograder feedback` rebuilds the pages after manual grading."""
from __future__ import annotations

import html
import json
from pathlib import Path

from autograder.results import write_csv

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: .3em .6em; vertical-align: top; text-align: left; }}
.passed {{ background: #e8f5e9; }} .failed {{ background: #ffebee; }}
pre {{ white-space: pre-wrap; margin: 0; }}
</style></head><body>
<h1>{title}</h1>
{unsandboxed}<p>Score: <b>{score:g} / {max_score:g}</b> (status: {status}){manual}</p>
{message}
<table><tr><th>check</th><th>points</th><th>result</th><th>details</th></tr>
{rows}
</table>
{term}</body></html>
"""

TERM = """<h2>Graded by hand, late work and total</h2>
<table><tr><th>answer</th><th>points</th><th>grader's comment</th></tr>
{rows}
</table>
<table class="totals">
<tr><th>autograded</th><td>{auto:g} / {auto_max:g}</td></tr>
<tr><th>graded by hand</th><td>{manual:g} / {manual_max:g}{pending}</td></tr>
<tr><th>extra credit</th><td>{extra:g}</td></tr>
<tr><th>late penalty</th><td class="late-penalty">{penalty:g}{late}</td></tr>
<tr><th>total</th><td class="total"><b>{total:g} / {max_score:g}</b></td></tr>
</table>
"""


def _term_section(totals) -> str:
    """Manual points, comments, late penalty and total, from ``autograder.term.Totals``."""
    rows = []
    for cell in totals.cells:
        if not (cell.manual or cell.comment or cell.extra_credit):
            continue
        status = " (not graded yet)" if cell.needs_manual_grade else ""
        extra = f" + {cell.extra_credit:g} extra" if cell.extra_credit else ""
        rows.append(f'<tr><td>{html.escape(cell.grade_id)}</td><td>{cell.points:g} / {cell.max_points:g}{extra}'
                    f'{status}</td><td class="comment"><pre>{html.escape(cell.comment)}</pre></td></tr>')
    late = ""
    if totals.seconds_late > 0:
        late = f" (submitted {totals.seconds_late / 3600:.1f} h after the due date {html.escape(totals.duedate)})"
    return TERM.format(
        rows="\n".join(rows), auto=totals.auto_score, auto_max=totals.auto_max, manual=totals.manual_score,
        manual_max=totals.manual_max, extra=totals.extra_credit, penalty=totals.late_penalty, late=late,
        total=totals.total, max_score=totals.max_score,
        pending="; some answers are not graded yet" if totals.needs_manual_grade else "")


def _manual_note(manual_max: float, totals) -> str:
    """What the score line says of the points graded by hand: pending, or done with the grader's points."""
    if not manual_max:
        return ""
    if totals is None or totals.needs_manual_grade:
        return f"; {manual_max:g} more points are graded by hand, not graded yet" + (" (below)" if totals else "")
    return (f"; graded by hand: {totals.manual_score:g} / {totals.manual_max:g} (grading done); "
            f"total {totals.total:g} / {totals.max_score:g} (below)")


def render(result: dict, totals=None) -> str:
    """The page; ``totals`` (``autograder.term.Totals``) adds manual points, comments, penalty and total."""
    rows = []
    for check in result["checks"]:
        kind = "hidden check" if check.get("hidden") else "visible check"
        verdict = "passed" if check["passed"] else "failed"
        rows.append(
            f'<tr class="{verdict}"><td>{html.escape(check["grade_id"])}<br><small>{kind}</small></td>'
            f'<td>{check["score"]:g} / {check["max_score"]:g}</td><td>{verdict}</td>'
            f'<td><pre>{html.escape(check.get("message", ""))}</pre></td></tr>'
        )
    manual = result.get("manual_max_score") or 0
    return PAGE.format(
        title=html.escape(f"{result['assignment']}: feedback for {result['student_id']}"),
        score=result["score"], max_score=result["max_score"], status=html.escape(result["status"]),
        manual=_manual_note(manual, totals),
        message=f"<p>{html.escape(result['message'])}</p>" if result.get("message") else "",
        unsandboxed=("<p><b>Graded WITHOUT a sandbox</b> (--unsafe-no-sandbox).</p>\n"
                     if result.get("sandboxed") is False else ""),
        rows="\n".join(rows),
        term=_term_section(totals) if totals is not None else "",
    )


def write_feedback(out_dir: Path, result: dict, totals=None) -> Path:
    path = Path(out_dir) / "feedback" / result["student_id"] / f"{result['assignment']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, totals), encoding="utf-8")
    return path


def regenerate(*, assignment: str, out_dir: Path, db_url: str | None = None, late_config=None) -> list[Path]:
    """`autograder feedback`: after manual grading, recompute late penalties from the current scores
    (nbgrader's AssignLatePenalties), then rewrite every feedback page and grades.csv of ``assignment``."""
    # Deferred: nbformat (term) and SQLAlchemy (preflight), which writing a page (while grading) does not need.
    from autograder import term
    from autograder.preflight import default_db_url, require_gradebook, require_results

    out_dir = Path(out_dir)
    results = require_results(out_dir, assignment)
    db_url = db_url or default_db_url(out_dir)
    require_gradebook(db_url, assignment)  # pages without the grader's points would look final
    term.refresh_late_penalties(db_url, assignment, late_config)
    totals = term.gradebook_totals(db_url, assignment)
    written = []
    for path in results:
        record = json.loads(path.read_text())
        written.append(write_feedback(out_dir, record, totals.get(record["student_id"])))
    write_csv(out_dir, assignment, totals)
    return written
