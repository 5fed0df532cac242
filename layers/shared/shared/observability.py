"""The one Logger and Metrics of a function.

Powertools reads its own settings (POWERTOOLS_SERVICE_NAME,
POWERTOOLS_METRICS_NAMESPACE, POWERTOOLS_LOG_LEVEL) from the template's
Globals. Metrics go out as EMF through stdout, so no CloudWatch endpoint is
needed in the VPC.

There is deliberately no Tracer: creating one imports the X-Ray SDK even when
tracing is disabled (+230-320 ms of cold start). Functions use active tracing,
which records invocations and cold starts without code.
"""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
# An empty service keeps Powertools from adding a `service` dimension: every
# metric carries exactly one dimension, Stage (set per invocation in shared.http).
metrics = Metrics(service="")

__all__ = ["MetricUnit", "logger", "metrics"]

# A request that adds no metric is normal (the cold-start metric still flushes).
warnings.filterwarnings("ignore", message="No application metrics to publish")
