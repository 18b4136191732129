"""Per-student feedback: an HTML page built from the result record (never from the executed notebook,
so no hidden test source and no traceback can reach it)."""
from __future__ import annotations

import html
from pathlib import Path

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
</table></body></html>
"""


def render(result: dict) -> str:
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
        manual=f"; {manual:g} more points are graded by hand" if manual else "",
        message=f"<p>{html.escape(result['message'])}</p>" if result.get("message") else "",
        unsandboxed=("<p><b>Graded WITHOUT a sandbox</b> (--unsafe-no-sandbox).</p>\n"
                     if result.get("sandboxed") is False else ""),
        rows="\n".join(rows),
    )


def write_feedback(out_dir: Path, result: dict) -> Path:
    path = Path(out_dir) / "feedback" / result["student_id"] / f"{result['assignment']}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result), encoding="utf-8")
    return path
