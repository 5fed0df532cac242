"""Every metric an alarm or a dashboard widget of template.yaml reads in the functions' own namespace
is one the code really emits: same namespace, same name, same dimension set and values.

The functions run for real against the test PostgreSQL (a scheduled statistics run, an HTTP
request, a run that fails), their embedded metric format (EMF) output is collected from stdout,
and the template's references are resolved with the same parameter values the functions' environment
came from (the template maps MetricsNamespace and Stage to POWERTOOLS_METRICS_NAMESPACE and STAGE).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

import stats_app
from testing.events import load_event
from tests.conftest import APP_SECRET, READONLY_SECRET, LambdaContext
from tests.support.api import call

ROOT = Path(__file__).resolve().parents[2]
Metric = tuple[str, str, frozenset[tuple[str, str]]]


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(ROOT / "template.yaml"))


def emitted(output: str) -> set[Metric]:
    """(namespace, name, dimension set) of every metric in the EMF documents on stdout."""
    found: set[Metric] = set()
    for line in output.splitlines():
        line = line.strip()
        if not (line.startswith("{") and '"_aws"' in line):
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for dims in directive["Dimensions"]:
                dimset = frozenset((d, str(blob[d])) for d in dims)
                for m in directive["Metrics"]:
                    found.add((directive["Namespace"], m["Name"], dimset))
    return found


@pytest.fixture()
def stats_env(db, monkeypatch):
    from shared.db import reset_databases
    from shared.settings import get_settings

    monkeypatch.setenv("DB_SECRET_ID", READONLY_SECRET)
    monkeypatch.setenv("WRITER_DB_SECRET_ID", APP_SECRET)
    get_settings.cache_clear()
    reset_databases()
    yield db
    reset_databases()
    get_settings.cache_clear()


@pytest.fixture()
def emitted_by_the_code(stats_env, capsys, monkeypatch, free_tcp_port) -> set[Metric]:
    """Run the paths that publish metrics: two scheduled runs (counters publish deltas from the
    second), an HTTP request, and a run whose database is unreachable."""
    from shared.db import reset_databases
    from shared.errors import ServiceUnavailable
    from shared.settings import get_settings

    capsys.readouterr()
    for when in ("2026-11-23T12:00:00Z", "2026-11-23T12:05:00Z"):
        event = load_event("stats/schedule.json")
        event["time"] = when
        assert stats_app.handler(event, LambdaContext())["status"] == "published"
    assert call(stats_app.handler, load_event("stats/get.json")).status == 200
    monkeypatch.setenv("DB_PORT", str(free_tcp_port))
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "1")
    get_settings.cache_clear()
    reset_databases()
    with pytest.raises(ServiceUnavailable):
        stats_app.handler(load_event("stats/schedule.json"), LambdaContext())
    return emitted(capsys.readouterr().out)


def _substitute(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return values.get(match.group(1), "resolved-" + match.group(1))

    return re.sub(r"\$\{([^}]+)\}", one, text)


def _resolve(node: Any, params: dict[str, str]) -> Any:
    if isinstance(node, dict) and set(node) == {"Ref"}:
        return params.get(node["Ref"], "resolved-" + node["Ref"])
    if isinstance(node, dict) and set(node) == {"Fn::Sub"}:
        return _substitute(node["Fn::Sub"] if isinstance(node["Fn::Sub"], str) else node["Fn::Sub"][0], params)
    return node


def alarm_metrics(template: dict[str, Any], params: dict[str, str]) -> list[tuple[str, Metric]]:
    out = []
    for name, r in template["Resources"].items():
        if r["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = r["Properties"]
        stats = (
            [props]
            if "MetricName" in props
            else [q["MetricStat"]["Metric"] for q in props["Metrics"] if "MetricStat" in q]
        )
        for m in stats:
            dims = frozenset((d["Name"], str(_resolve(d["Value"], params))) for d in m.get("Dimensions", []))
            out.append((name, (str(_resolve(m["Namespace"], params)), m["MetricName"], dims)))
    return out


def dashboard_metrics(template: dict[str, Any], params: dict[str, str]) -> list[tuple[str, Metric]]:
    """Every metric row of every widget, with CloudWatch's "." (same as the row above) and "..."
    (the row above, its tail replaced) shorthands expanded."""
    out = []
    for name, r in template["Resources"].items():
        if r["Type"] != "AWS::CloudWatch::Dashboard":
            continue
        body = r["Properties"]["DashboardBody"]["Fn::Sub"]
        text, local = (body, {}) if isinstance(body, str) else (body[0], body[1])
        parsed = json.loads(_substitute(text, {**params, **{k: str(v) for k, v in local.items()}}))
        for widget in parsed["widgets"]:
            previous: list[str] = []
            for row in widget.get("properties", {}).get("metrics", []):
                tokens = [t for t in row if not isinstance(t, dict)]
                if not tokens:
                    raise AssertionError(f"{name}: a widget uses an expression; reference metrics explicitly: {row}")
                if tokens[0] == "...":
                    tokens = previous[: len(previous) - len(tokens) + 1] + tokens[1:]
                tokens = [previous[i] if t == "." else t for i, t in enumerate(tokens)]
                previous = tokens
                namespace, metric, rest = tokens[0], tokens[1], tokens[2:]
                assert len(rest) % 2 == 0, f"{name}: dimension without a value in {row}"
                dims = frozenset(zip(rest[::2], rest[1::2], strict=True))
                out.append((f"{name}/{widget['properties'].get('title')}", (namespace, metric, dims)))
    return out


def test_every_own_metric_the_template_reads_is_emitted(template, emitted_by_the_code) -> None:
    env = os.environ
    params = {
        "MetricsNamespace": env["POWERTOOLS_METRICS_NAMESPACE"],
        "Stage": env["STAGE"],
        "AWS::Region": "us-east-1",
        "AWS::StackName": "blog-test",
    }
    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    assert globals_env["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert globals_env["STAGE"] == {"Ref": "Stage"}
    referenced = alarm_metrics(template, params) + dashboard_metrics(template, params)
    own = [(where, m) for where, m in referenced if not m[0].startswith("AWS/")]
    assert any(where.startswith("StatsRunFailedAlarm") for where, _ in own)
    assert sum(1 for where, _ in own if "/" in where) >= 5, "the dashboard shows the published statistics"
    missing = [(where, m) for where, m in own if m not in emitted_by_the_code]
    assert not missing, "referenced but never emitted:\n" + "\n".join(f"  {w}: {m}" for w, m in missing)
    # The check has teeth: the dimension set the old dashboard searched for is not emitted.
    assert (params["MetricsNamespace"], "UsersTotal", frozenset({("service", "stats")})) not in emitted_by_the_code
