"""Public surveys and wiki surveys that reveal demand for data (issue 9)."""
