"""The results wing: a board's columns from what its records declare (:mod:`.schema`), a 95 %
interval per cell (:mod:`.intervals`), the views (:mod:`.views`) and their text (:mod:`.render`).
No module here names a metric. The CSV itself is built by :mod:`mibench.leaderboard`."""

from .render import cell, markdown, visible
from .schema import BoardSchema, MetricColumn
from .views import per_class, pivot, worst_case

__all__ = ["BoardSchema", "MetricColumn", "cell", "markdown", "per_class", "pivot", "visible", "worst_case"]
