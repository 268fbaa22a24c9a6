"""CSV imports of beneficiaries: a dry run first, then a batched background import."""
