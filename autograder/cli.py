"""`autograder <verb>`: a thin command line over the keyword-only functions of each verb module.

Each verb imports its module when it runs: between them they load nbformat, nbgrader, SQLAlchemy,
jupyter_client, Dask and NumPy, which ``autograder --help`` and the other verbs need not.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder import preflight
from autograder.paths import REPO_ROOT, assignments
from autograder.records import Limits

EXIT_OK, EXIT_FAILED = 0, 1
EXIT_MOST_FAILED = 100  # `autograder grade` exits with the number of submissions not graded, up to this
CONFIG_FILE = REPO_ROOT / "nbgrader_config.py"  # limits, due dates, the late penalty plugin


def _assignments(names: list[str]) -> list[str]:
    known = assignments()
    for name in names:
        if name not in known:
            raise SystemExit(f"autograder: unknown assignment {name!r} (known: {', '.join(known)})")
    return names or known


def _limits(args=None):
    """Grading limits: ``c.Autograder.*`` in nbgrader_config.py (traits with defaults), then the flags."""
    overrides = {}
    if args is not None:
        overrides = {name: getattr(args, name, None) for name in ("cell_timeout", "submission_timeout", "memory_mb")}
        if getattr(args, "unsafe_no_sandbox", False):
            overrides["sandbox"] = False
    return Limits.from_config_file(REPO_ROOT / "nbgrader_config.py", **overrides)


def cmd_answers(args) -> int:
    from autograder.answers import reference_names, write_answers

    names = args.assignments or reference_names()
    problems = write_answers(assignments=names, check=args.check)
    for problem in problems:
        print(problem)
    verb = "match" if args.check else "written"
    print(f"answers {verb}: {', '.join(names)}" if not problems else f"{len(problems)} differences")
    return EXIT_FAILED if problems else EXIT_OK


def cmd_release(args) -> int:
    from autograder.release import release

    names = _assignments(args.assignments)
    problems = release(assignments=names, check=args.check)
    for problem in problems:
        print(problem)
    if problems:
        print("release/ differs from regeneration: run `autograder release` and commit", file=sys.stderr)
        return EXIT_FAILED
    print(f"release {'matches' if args.check else 'written'}: {', '.join(names)}")
    return EXIT_OK


def cmd_validate(args) -> int:
    from autograder.sandbox import SandboxUnavailable, require_sandbox
    from autograder.validate import validate

    limits = _limits(args)
    if limits.sandbox:
        try:
            require_sandbox()
        except SandboxUnavailable as error:
            print(f"autograder validate: {error}", file=sys.stderr)
            return EXIT_FAILED
    from autograder.inputs import GradingInputs
    from autograder.term import load_config

    inputs = GradingInputs.from_config(load_config(CONFIG_FILE))
    all_ok = True
    for name in _assignments(args.assignments):
        try:
            ok, report = validate(assignment=name, limits=limits, jobs=args.jobs, inputs=inputs)
        except ValueError as error:  # a grading secret that cannot be used
            print(f"autograder validate: {error}", file=sys.stderr)
            return EXIT_FAILED
        print(report, flush=True)
        all_ok &= ok
    print("validate: OK" if all_ok else "validate: FAILED")
    return EXIT_OK if all_ok else EXIT_FAILED


def _preflight(verb: str, *checks) -> bool:
    """Run ``autograder.preflight`` checks before the verb imports its heavy modules; False (after saying what
    is missing) when one fails."""
    try:
        for check in checks:
            check()
    except FileNotFoundError as error:
        print(f"autograder {verb}: {error}", file=sys.stderr)
        return False
    return True


def cmd_grade(args) -> int:
    _assignments([args.assignment])
    if not _preflight("grade", lambda: preflight.require_submitted_folder(Path(args.submitted_dir))):
        return EXIT_FAILED
    from autograder.distributed import ClusterRefused, SchedulerLost
    from autograder.grade import GRADED_STATUSES, grade
    from autograder.sandbox import SandboxUnavailable

    try:
        records = grade(assignment=args.assignment, submitted_dir=Path(args.submitted_dir), out_dir=Path(args.out),
                        jobs=args.jobs, db_url=args.db, only=args.only, limits=_limits(args),
                        scheduler=args.scheduler, resume=args.resume,
                        autograded_dir=Path(args.autograded_dir) if args.autograded_dir else None,
                        config_file=CONFIG_FILE)
    except (FileNotFoundError, SandboxUnavailable, ValueError, ClusterRefused, SchedulerLost) as error:
        print(f"autograder grade: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"results: {Path(args.out) / 'grades.csv'}; feedback: {Path(args.out) / 'feedback'}")
    failed = [r for r in records if r["status"] not in GRADED_STATUSES]
    if failed:
        counts = {}
        for record in failed:
            counts[record["status"]] = counts.get(record["status"], 0) + 1
        print(f"autograder grade: {len(failed)} of {len(records)} submissions not graded ("
              + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + "); the exit status is that number"
              f" (at most {EXIT_MOST_FAILED})", file=sys.stderr)
    _class_report(args.assignment, Path(args.out), args.db)
    return min(len(failed), EXIT_MOST_FAILED)


def _class_report(assignment: str, out: Path, db: str | None) -> None:
    """After grading: the class report, or why not (grading itself succeeded either way)."""
    from autograder.report import write_report
    from autograder.term import load_config

    try:
        path = write_report(out_dir=out, assignment=assignment, db_url=db, config=load_config(CONFIG_FILE))
        print(f"class report: {path}")
    except Exception as error:  # a report problem must not hide the grades already written
        print(f"class report not written ({type(error).__name__}: {error}); "
              f"make it with `autograder report {assignment} --out {out}`", file=sys.stderr)


def cmd_report(args) -> int:
    from autograder.report import write_report
    from autograder.term import load_config

    assignment = None if args.all else args.assignment
    try:
        path = write_report(out_dir=Path(args.out), assignment=assignment, db_url=args.db,
                            dest=Path(args.dest) if args.dest else None, config=load_config(CONFIG_FILE),
                            notebooks_dir=Path(args.notebooks) if args.notebooks else None)
    except FileNotFoundError as error:
        print(f"autograder report: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"class report: {path}")
    return EXIT_OK


def cmd_feedback(args) -> int:
    db_url = args.db or preflight.default_db_url(Path(args.out))
    if not _preflight("feedback", lambda: preflight.require_results(Path(args.out), args.assignment),
                      lambda: preflight.require_gradebook(db_url, args.assignment)):
        return EXIT_FAILED
    from autograder.feedback import regenerate
    from autograder.term import load_config

    try:  # no check against source/: the results under OUT say which assignments were graded
        pages = regenerate(assignment=args.assignment, out_dir=Path(args.out), db_url=args.db,
                           late_config=load_config(CONFIG_FILE))
    except FileNotFoundError as error:
        print(f"autograder feedback: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{len(pages)} feedback pages rewritten under {Path(args.out) / 'feedback'}; "
          f"grades.csv: {Path(args.out) / 'grades.csv'}")
    return EXIT_OK


def cmd_export(args) -> int:
    if not _preflight("export", lambda: preflight.require_gradebook(args.db)):
        return EXIT_FAILED
    from autograder.export import export
    from autograder.term import load_config

    try:
        count = export(db_url=args.db, out_csv=Path(args.out), format=args.format,
                       late_config=load_config(CONFIG_FILE))
    except FileNotFoundError as error:  # no gradebook there, or one without grades: nothing is written
        print(f"autograder export: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{count} students written to {args.out} ({args.format})")
    return EXIT_OK


def cmd_demo(args) -> int:
    from autograder.demo import demo

    return demo(workdir=Path(args.workdir), assignments=_assignments(args.assignments))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autograder", description="gan-course instructor tools")
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("answers", help="write data/<assignment>.npz from the NumPy references")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--check", action="store_true", help="fail if the committed files differ")
    p.set_defaults(func=cmd_answers)

    p = verbs.add_parser("release", help="generate release/<assignment> with nbgrader")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--check", action="store_true", help="fail if the committed release differs")
    p.set_defaults(func=cmd_release)

    p = verbs.add_parser("validate", help="solutions earn full marks, stubs earn none")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run kernels without the bubblewrap sandbox (only where bubblewrap cannot run)")
    p.set_defaults(func=cmd_validate)

    p = verbs.add_parser("grade", help="grade submitted/<student>/<assignment>/ folders",
                         epilog="Exit status: 0 when every submission was graded, else the number that were not "
                         f"(missing, invalid, timeout, crashed, error; at most {EXIT_MOST_FAILED}), or 1 when "
                         "grading could not start.")
    p.add_argument("assignment")
    p.add_argument("submitted_dir")
    p.add_argument("--out", required=True, help="folder for grades.csv, results/, feedback/")
    p.add_argument("--jobs", type=int, default=None, help="parallel workers (default: number of cores)")
    p.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///OUT/gradebook.db)")
    p.add_argument("--only", default=None, metavar="STUDENT", help="grade only this student")
    p.add_argument("--scheduler", default=None, metavar="tcp://HOST:8786",
                   help="grade on this Dask cluster (one task per submission) instead of this machine")
    p.add_argument("--resume", action="store_true",
                   help="skip students whose record is already in OUT/results (after a stopped run)")
    p.add_argument("--cell-timeout", dest="cell_timeout", type=int, default=None)
    p.add_argument("--submission-timeout", dest="submission_timeout", type=int, default=None)
    p.add_argument("--memory-mb", dest="memory_mb", type=int, default=None)
    p.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="grade without the bubblewrap sandbox; every result is marked as graded without one")
    p.add_argument("--autograded-dir", default=None,
                   help="nbgrader's autograded/ folder that formgrader reads (default: OUT/autograded; its parent "
                   "becomes a course root: start `jupyter lab` there)")
    p.set_defaults(func=cmd_grade)

    p = verbs.add_parser("feedback", help="rewrite feedback pages and grades.csv after manual grading")
    p.add_argument("assignment")
    p.add_argument("--out", required=True, help="the folder `autograder grade --out` wrote")
    p.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///OUT/gradebook.db)")
    p.set_defaults(func=cmd_feedback)

    p = verbs.add_parser("report", help="the class at a glance: scores, checks, statuses, similar solutions (HTML)")
    p.add_argument("assignment", nargs="?", default=None,
                   help="the assignment (omitted: an overview of every assignment graded under OUT)")
    p.add_argument("--all", action="store_true", help="the overview of every assignment graded under OUT")
    p.add_argument("--out", required=True, help="the folder `autograder grade --out` wrote")
    p.add_argument("--db", default=None, help="gradebook URL (default: sqlite:///OUT/gradebook.db)")
    p.add_argument("--dest", default=None,
                   help="file to write (default OUT/report/<assignment>.html; with --all a folder, default OUT/report)")
    p.add_argument("--notebooks", default=None, metavar="DIR",
                   help="compare solutions in DIR/<student>/<assignment>/*.ipynb (default OUT/autograded; "
                   "nbgrader's submitted/ works too)")
    p.set_defaults(func=cmd_report)

    p = verbs.add_parser("export", help="class grades from the gradebook (CSV, or Canvas's import file)")
    p.add_argument("--db", required=True, help="gradebook URL, e.g. sqlite:///OUT/gradebook.db")
    p.add_argument("--out", required=True, help="file to write")
    p.add_argument("--format", choices=("csv", "canvas"), default="csv",
                   help="csv: auto, manual, late penalty and total per assignment; canvas: gradebook import file")
    p.set_defaults(func=cmd_export)

    p = verbs.add_parser("demo", help="answers, release, three demo submissions, grade them")
    p.add_argument("assignments", nargs="*")
    p.add_argument("--workdir", default=str(REPO_ROOT / "demo"))
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
