"""Metrics: functions of (dataset, representation_fn, *, generator, sizes...) -> dict."""

from vaecourse.metrics import causal, mic  # noqa: F401  chapter 5
