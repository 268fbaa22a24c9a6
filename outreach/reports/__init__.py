"""Read models for the staff console: aggregates computed in SQL, never row by row."""
