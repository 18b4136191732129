"""gan-course: what a student's notebook imports (data loaders, plots, checks, metrics)."""
