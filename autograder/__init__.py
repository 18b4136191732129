"""gan-course autograder: the instructor's side (answers, release, validate, grade, feedback, export)."""
