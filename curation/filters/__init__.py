"""Filters: quality, exact / pixel / near / mirrored duplicates, and contamination by a reference set.

Filters record decisions (``filter_decisions``) and duplicate groups; they never delete an image.
Entry points: :func:`run_all` (hash what is new, run every filter) and
:func:`curation.filters.report.write_report` (the HTML contact sheet).
"""

from curation.filters.params import FilterParams, load_params
from curation.filters.pipeline import FilterSummary, judge_all, run_all

__all__ = ["FilterParams", "FilterSummary", "judge_all", "load_params", "run_all"]
