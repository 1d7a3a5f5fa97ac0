"""Tasks: problem loading, answer extraction and grading, one file per task family."""
