"""Metrics: functions of data and a representation (or a model) returning a dict."""

from vaecourse.metrics.likelihood import test_log_likelihood
from vaecourse.metrics.units import KLRecorder, active_units, kl_per_unit, unit_activity
