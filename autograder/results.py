"""What a grading run leaves under OUT for each assignment: one result record per student
(``results/<student_id>/<assignment>.json``, the output contract) and ``grades.csv``. The parent
(``autograder.grade``, and ``autograder feedback`` after manual grading) is the only writer."""
from __future__ import annotations

import csv
import json
from pathlib import Path

# score / max_score: the autograded part; manual and extra credit from formgrader; total after the late penalty.
CSV_COLUMNS = ["student_id", "assignment", "score", "max_score", "manual_score", "manual_max_score", "extra_credit",
               "late_penalty", "total", "total_max", "needs_manual_grade", "status", "sandboxed"]


def result_path(out_dir: Path, student_id: str, assignment: str) -> Path:
    return Path(out_dir) / "results" / student_id / f"{assignment}.json"


def write_result(out_dir: Path, result: dict) -> Path:
    path = result_path(out_dir, result["student_id"], result["assignment"])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    tmp.replace(path)  # a crash of the grader never leaves a half-written record
    return path


def write_csv(out_dir: Path, assignment: str, totals: dict | None = None, unwritten: list[dict] = ()) -> Path:
    """grades.csv from every result record of ``assignment`` under ``out_dir/results`` and the records in
    ``unwritten`` (whose result file could not be written), with the gradebook's ``totals``
    (``autograder.term.gradebook_totals``: manual points, late penalty) where given."""
    rows = []
    paths = sorted((Path(out_dir) / "results").glob(f"*/{assignment}.json"))
    on_disk = [json.loads(path.read_text()) for path in paths]
    for record in on_disk + [r for r in unwritten if r["student_id"] not in {d["student_id"] for d in on_disk}]:
        row = {key: record.get(key, True) if key == "sandboxed" else record.get(key, "") for key in CSV_COLUMNS}
        row.update(manual_score=0.0, manual_max_score=record.get("manual_max_score", 0.0), extra_credit=0.0,
                   late_penalty=0.0, total=record["score"],
                   total_max=record["max_score"] + record.get("manual_max_score", 0.0), needs_manual_grade="")
        found = (totals or {}).get(record["student_id"])
        if found is not None:
            row.update(score=found.auto_score, manual_score=found.manual_score, manual_max_score=found.manual_max,
                       extra_credit=found.extra_credit, late_penalty=found.late_penalty, total=found.total,
                       total_max=found.max_score, needs_manual_grade=found.needs_manual_grade)
        rows.append(row)
    csv_path = Path(out_dir) / "grades.csv"
    existing = []
    if csv_path.is_file():  # keep other assignments' rows
        with csv_path.open(newline="") as handle:
            existing = [r for r in csv.DictReader(handle) if r.get("assignment") != assignment]
    # A student id from a file name that is not UTF-8 must not cost the class its CSV.
    with csv_path.open("w", newline="", encoding="utf-8", errors="backslashreplace") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(sorted(existing + rows, key=lambda r: (r["assignment"], r["student_id"])))
    return csv_path
