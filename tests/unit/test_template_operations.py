"""Defects a scanner cannot see: each test checks a KIND of first-deploy or day-30 failure on the
parsed template, samconfig.toml and the deploy script (docs/INFRASTRUCTURE.md explains each).

- every environment the Makefile and the docs name exists and renders a complete `sam deploy`;
- every parameter admits only what the service accepts, and the Rules refuse bad combinations;
- the first deploy never waits on a proxy target whose logins do not exist yet;
- a function serving HTTP routes is never sized for the schedule alone;
- an alarm threshold is reachable with the concurrency the parameters allow;
- a hosted rotation function is configured as the transform expects, and its failure alerts;
- every stateful or identity-bearing resource says what happens on delete and replacement.
"""

from __future__ import annotations

import ast
import operator
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import deploy  # noqa: E402

# Lambda's default account quota of concurrent executions (Lambda Developer Guide, "Lambda quotas"),
# of which 100 always stay unreserved ("Configuring reserved concurrency").
ACCOUNT_CONCURRENCY = 1000
UNRESERVED_MINIMUM = 100


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(ROOT / "template.yaml"))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------- parameter values
def accepts(parameter: dict[str, Any], value: str) -> bool:
    """Would CloudFormation accept `value` for this parameter (its own constraints only)?"""
    kind = parameter["Type"]
    values = value.split(",") if kind == "CommaDelimitedList" else [value]
    for v in values:
        if "AllowedValues" in parameter and v not in [str(a) for a in parameter["AllowedValues"]]:
            return False
        if "AllowedPattern" in parameter and not re.fullmatch(parameter["AllowedPattern"], v):
            return False
        if kind == "Number":
            try:
                number = float(v)
            except ValueError:
                return False
            if "MinValue" in parameter and number < float(parameter["MinValue"]):
                return False
            if "MaxValue" in parameter and number > float(parameter["MaxValue"]):
                return False
    return True


def parameter_values(template: dict[str, Any], overrides: dict[str, str]) -> dict[str, Any]:
    """Every parameter's value for one deployment: overrides, else defaults; lists split."""
    out: dict[str, Any] = {}
    for name, p in template["Parameters"].items():
        raw = overrides.get(name, p.get("Default"))
        assert raw is not None, f"{name} has no default and no override"
        out[name] = str(raw).split(",") if p["Type"] == "CommaDelimitedList" else str(raw)
    return out


# ---------------------------------------------------------------------------- Rules
def _rule_value(node: Any, values: dict[str, Any]) -> Any:
    if isinstance(node, dict) and len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref":
            return values[arg]
        fn = {
            "Fn::Equals": lambda a: _rule_value(a[0], values) == _rule_value(a[1], values),
            "Fn::Not": lambda a: not _rule_value(a[0], values),
            "Fn::And": lambda a: all(_rule_value(x, values) for x in a),
            "Fn::Or": lambda a: any(_rule_value(x, values) for x in a),
            "Fn::Contains": lambda a: _rule_value(a[1], values) in _rule_value(a[0], values),
            "Fn::EachMemberEquals": lambda a: all(m == _rule_value(a[1], values) for m in _rule_value(a[0], values)),
            "Fn::EachMemberIn": lambda a: all(m in _rule_value(a[1], values) for m in _rule_value(a[0], values)),
        }.get(key)
        assert fn is not None, f"rule function {key} is not evaluated by this test: add it"
        return fn(arg)
    if isinstance(node, list):
        return [_rule_value(x, values) for x in node]
    return node


def failed_rules(template: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """The AssertDescription of every Rules assertion that fails for these parameter values."""
    failures = []
    for rule in template.get("Rules", {}).values():
        if "RuleCondition" in rule and not _rule_value(rule["RuleCondition"], values):
            continue
        for assertion in rule["Assertions"]:
            if not _rule_value(assertion["Assert"], values):
                failures.append(assertion["AssertDescription"])
    return failures


def env_overrides(env: str) -> dict[str, str]:
    section = deploy.environments()[env]
    return dict(o.partition("=")[::2] for o in deploy.overrides_of(section))


# ------------------------------------------------------------------- 1. environments
SES_IDENTITY = "arn:aws:ses:us-east-1:123456789012:identity/blog.example.org"


def named_environments() -> set[str]:
    """Every environment the Makefile, the README and the docs tell someone to deploy."""
    names = set()
    for path in [ROOT / "Makefile", ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        names |= set(re.findall(r"\bENV\s*\??=\s*([a-z][a-z0-9-]*)", text))
        names |= set(re.findall(r"--config-env[ =]([a-z][a-z0-9-]*)", text))
    return names - {"env"}


def test_every_named_environment_exists_and_the_template_knows_its_stage(template: dict[str, Any]) -> None:
    envs = deploy.environments()
    named = named_environments()
    assert {"dev", "staging", "prod"} <= set(envs)
    assert named, "the Makefile names no environment"
    assert named <= set(envs), f"named but not in samconfig.toml: {sorted(named - set(envs))}"
    stages = [str(s) for s in template["Parameters"]["Stage"]["AllowedValues"]]
    assert sorted(env_overrides(e)["Stage"] for e in envs) == sorted(stages), "one environment per stage"


@pytest.mark.parametrize("env", sorted(deploy.environments()))
def test_every_environment_renders_a_complete_sam_deploy(env: str, template: dict[str, Any]) -> None:
    section = deploy.environments()[env]
    assert section["global"]["parameters"]["stack_name"] and section["global"]["parameters"]["region"]
    assert "CAPABILITY_AUTO_EXPAND" in section["deploy"]["parameters"]["capabilities"]
    overrides = env_overrides(env)
    for key, value in overrides.items():
        assert key in template["Parameters"], f"[{env}] overrides unknown parameter {key}"
        assert accepts(template["Parameters"][key], value), f"[{env}] {key}={value!r} is refused by the template"
    if overrides["Stage"] == "prod":
        # prod carries placeholders until the real values are known: both the deploy script and
        # the template's Rules refuse it; with real values it renders and passes.
        with pytest.raises(deploy.DeployError):
            deploy.render(env, "sam", "0" * 64)
        assert failed_rules(template, parameter_values(template, overrides))
        overrides |= {
            "AlarmEmail": "oncall@blog.example.org",
            "CorsAllowedOrigins": "https://blog.example.org",
            "CognitoEmailSourceArn": SES_IDENTITY,
        }
        config = ROOT / "samconfig.toml"
        text = config.read_text().replace(
            '"CorsAllowedOrigins=https://example.com"', '"CorsAllowedOrigins=https://blog.example.org"'
        )
        text = text.replace(
            '"Stage=prod",',
            f'"Stage=prod",\n  "AlarmEmail=oncall@blog.example.org",\n  "CognitoEmailSourceArn={SES_IDENTITY}",',
        )
        real = config.parent / ".pytest-samconfig-prod.toml"
        real.write_text(text)
        try:
            argv = deploy.render(env, "sam", "0" * 64, real)
        finally:
            real.unlink()
    else:
        argv = deploy.render(env, "sam", "0" * 64)
    values = parameter_values(template, overrides | {"MigrationsHash": "0" * 64})
    assert failed_rules(template, values) == [], env
    for name, p in template["Parameters"].items():
        assert accepts(p, ",".join(as_list(values[name]))), f"[{env}] {name}={values[name]!r}"
    assert argv[:4] == ["sam", "deploy", "--config-env", env]
    given = argv[argv.index("--parameter-overrides") + 1 :]
    assert f"MigrationsHash={'0' * 64}" in given
    without_default = {n for n, p in template["Parameters"].items() if "Default" not in p}
    assert without_default <= {g.partition("=")[0] for g in given}


def test_an_unknown_environment_is_refused_before_anything_runs() -> None:
    with pytest.raises(deploy.DeployError, match="no \\[qa\\] environment"):
        deploy.render("qa", "sam", "0" * 64)


@pytest.mark.parametrize("env", sorted(deploy.environments()))
def test_reserved_concurrency_fits_the_default_account_limit(env: str, template: dict[str, Any]) -> None:
    values = parameter_values(template, env_overrides(env))
    total = sum(reserved_concurrency(template, fn, values) for fn in functions(template))
    assert total <= ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM, (env, total)
    # And the parameter's MaxValue keeps any accepted value within the limit.
    worst = parameter_values(
        template, {"ApiReservedConcurrency": str(template["Parameters"]["ApiReservedConcurrency"]["MaxValue"])}
    )
    assert sum(reserved_concurrency(template, fn, worst) for fn in functions(template)) <= 900


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    globals_ = template.get("Globals", {}).get("Function", {})
    out = {}
    for name, r in of_type(template["Resources"], "AWS::Serverless::Function").items():
        props = dict(globals_) | r["Properties"]
        props["Environment"] = {
            "Variables": globals_.get("Environment", {}).get("Variables", {})
            | r["Properties"].get("Environment", {}).get("Variables", {})
        }
        out[name] = props
    return out


def reserved_concurrency(template: dict[str, Any], fn: str, values: dict[str, Any]) -> int:
    value = functions(template)[fn]["ReservedConcurrentExecutions"]
    return int(values[value["Ref"]]) if isinstance(value, dict) else int(value)


# -------------------------------------------------------------- 8. parameters and Rules
def test_every_parameter_is_constrained(template: dict[str, Any]) -> None:
    free_form = {"CorsAllowedOrigins"}  # a list of origins; prod placeholders are refused by Rules
    for name, p in template["Parameters"].items():
        if p["Type"] == "Number":
            assert "AllowedValues" in p or {"MinValue", "MaxValue"} <= set(p), f"{name}: unbounded number"
        elif name not in free_form:
            assert "AllowedValues" in p or "AllowedPattern" in p, f"{name}: any string accepted"
        if "Default" in p:
            assert accepts(p, str(p["Default"])), f"{name}: its own default is refused"


# (parameter, values the service accepts, values the service refuses). Sources: EventBridge
# "Schedule expressions for rules" (singular unit for 1), RDS CreateDBProxy/ModifyDBProxyTargetGroup
# (MaxIdleConnectionsPercent <= MaxConnectionsPercent), CloudWatch Logs PutRetentionPolicy,
# RDS CreateDBInstance (MonitoringInterval, identifiers), AWS Backup vault ARNs.
BOUNDARIES: list[tuple[str, list[str], list[str]]] = [
    (
        "StatsScheduleRate",
        ["rate(1 minute)", "rate(2 minutes)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)"],
        [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(1 hours)",
            "rate(01 minutes)",
            "cron(0 * * * ? *)",
        ],
    ),
    ("VpcCidr", ["10.40.0.0/16", "172.31.0.0/16"], ["10.40.1.0/16", "10.40.0.0/24", "300.1.0.0/16"]),
    ("DbInstanceClass", ["db.t4g.medium", "db.m7g.large", "db.r6gd.xlarge"], ["t4g.medium", "db.t4g", "DB.T4G.MEDIUM"]),
    ("AlarmEmail", ["", "oncall@blog.example.org"], ["oncall", "a@b", "two@@example.org"]),
    ("JwtIssuer", ["", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc"], ["http://insecure.example", "x"]),
    ("MigrationsHash", ["unset", "a" * 64], ["", "abc", "A" * 64]),
    (
        "BackupCopyVaultArn",
        ["", "arn:aws:backup:us-west-2:123456789012:backup-vault:blog-copy"],
        ["us-west-2", "arn:aws:s3:::bucket"],
    ),
    ("LoggerSampleRate", ["0", "0.1", "1", "1.0"], ["1.5", "-0.1", "abc"]),
    ("EnhancedMonitoringInterval", ["1", "60"], ["0", "2", "120"]),
    ("LogRetentionDays", ["1", "30", "365"], ["2", "0", "10000"]),
    ("ApiReservedConcurrency", ["1", "224"], ["0", "225"]),
    ("ConnectionsAlarmPercent", ["1", "99"], ["0", "100"]),
    (
        "CognitoEmailSourceArn",
        ["", "arn:aws:ses:us-east-1:123456789012:identity/blog.example.org", SES_IDENTITY + "x"],
        ["no-reply@blog.example.org", "arn:aws:ses:us-east-1:123:identity/x", "arn:aws:sns:us-east-1:123456789012:t"],
    ),
    # CloudWatch PutMetricData: namespaces starting with "AWS/" are reserved for AWS services.
    ("MetricsNamespace", ["Blog", "Blog/Prod", "AWSome"], ["AWS/Lambda", "AWS/", "1Blog", ""]),
]


@pytest.mark.parametrize(("name", "good", "bad"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_parameter_admits_what_the_service_accepts_and_nothing_else(
    name: str, good: list[str], bad: list[str], template: dict[str, Any]
) -> None:
    p = template["Parameters"][name]
    for value in good:
        assert accepts(p, value), f"{name} refuses {value!r}, which the service accepts"
    for value in bad:
        assert not accepts(p, value), f"{name} accepts {value!r}, which the service refuses"


def test_proxy_pool_never_has_more_idle_than_maximum_connections(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    pool = resources["DbProxyTargetGroup"]["Properties"]["ConnectionPoolConfigurationInfo"]
    idle_ref = pool["MaxIdleConnectionsPercent"]["Fn::FindInMap"]
    idle = int(template["Mappings"][idle_ref[0]][idle_ref[1]][idle_ref[2]])
    maximum = template["Parameters"][pool["MaxConnectionsPercent"]["Ref"]]
    assert not accepts(maximum, str(idle - 1)), "a MaxConnectionsPercent below the idle share is accepted"
    assert accepts(maximum, str(idle)) and accepts(maximum, "100")


@pytest.mark.parametrize(
    ("overrides", "refused"),
    [
        ({"Stage": "dev"}, False),
        ({"Stage": "staging"}, False),
        ({"Stage": "prod"}, True),  # no AlarmEmail, default CORS origin
        ({"Stage": "prod", "AlarmEmail": "oncall@blog.example.org"}, True),  # localhost origin
        ({"Stage": "prod", "AlarmEmail": "o@blog.example.org", "CorsAllowedOrigins": "https://example.com"}, True),
        (
            {
                "Stage": "prod",
                "AlarmEmail": "o@blog.example.org",
                "CorsAllowedOrigins": "https://a.example.org,https://example.com",
            },
            True,
        ),
        (  # Cognito's own sender in prod
            {"Stage": "prod", "AlarmEmail": "o@blog.example.org", "CorsAllowedOrigins": "https://blog.example.org"},
            True,
        ),
        (
            {
                "Stage": "prod",
                "AlarmEmail": "o@blog.example.org",
                "CorsAllowedOrigins": "https://blog.example.org",
                "CognitoEmailSourceArn": SES_IDENTITY,
            },
            False,
        ),
        ({"BackupCopyVaultArn": "arn:aws:backup:us-west-2:123456789012:backup-vault:copy"}, True),
        (
            {
                "BackupCopyVaultArn": "arn:aws:backup:us-west-2:123456789012:backup-vault:copy",
                "EnableBackupPlan": "true",
            },
            False,
        ),
    ],
)
def test_rules_refuse_placeholders_and_inconsistent_combinations(
    overrides: dict[str, str], refused: bool, template: dict[str, Any]
) -> None:
    assert bool(failed_rules(template, parameter_values(template, overrides))) is refused


# ------------------------------------------------------------------ 3. first deploy order
def references(node: Any) -> Iterator[str]:
    """Logical ids a template node refers to (Ref, GetAtt, Sub's ${...})."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                yield value
            elif key == "Fn::GetAtt":
                yield as_list(value)[0].split(".")[0] if isinstance(value, str) else value[0]
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                yield from (m.split(".")[0] for m in re.findall(r"\$\{([^!][^}]*)\}", text))
                if isinstance(value, list):
                    yield from references(value[1])
            else:
                yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def dependencies(template: dict[str, Any]) -> dict[str, set[str]]:
    """Each resource's direct dependencies; a function's include what SAM merges in from Globals."""
    resources = template["Resources"]
    merged = functions(template)
    graph = {}
    for name, r in resources.items():
        props = merged.get(name, r.get("Properties", {}))
        direct = set(as_list(r.get("DependsOn", []))) | set(references(props))
        graph[name] = {d for d in direct if d in resources}
    return graph


def upstream(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for dep in graph[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_migrations_never_wait_on_the_proxy_target_and_the_target_waits_for_the_roles(
    template: dict[str, Any],
) -> None:
    """The target group's create handler waits until every target is AVAILABLE (RDS Proxy resource
    provider, CreateHandler/Utility.validateHealth); the proxy logs in with the role secrets, so the
    roles must exist first. Nothing that creates them may depend on the proxy."""
    resources = template["Resources"]
    graph = dependencies(template)
    proxy_side = {n for n, r in resources.items() if r["Type"].startswith("AWS::RDS::DBProxy")}
    assert proxy_side, "no RDS Proxy resources"
    assert not upstream(graph, "SchemaMigrations") & proxy_side
    db_groups = {g["Ref"] for g in resources["Database"]["Properties"]["VPCSecurityGroups"]}
    proxy_groups = {g["Ref"] for g in resources["DbProxy"]["Properties"]["VpcSecurityGroupIds"]}
    proxy_to_db = {
        n
        for n, r in of_type(resources, "AWS::EC2::SecurityGroupIngress").items()
        if r["Properties"]["GroupId"]["Ref"] in db_groups
        and r["Properties"].get("SourceSecurityGroupId", {}).get("Ref") in proxy_groups
    }
    assert proxy_to_db, "no ingress rule lets the proxy reach the instance"
    for name, r in resources.items():
        if r["Type"] == "AWS::RDS::DBProxyTargetGroup":
            before = upstream(graph, name)
            assert "SchemaMigrations" in before, name
            # Without the proxy -> instance rule the target never becomes AVAILABLE either.
            assert proxy_to_db <= before, f"{name} may register before the proxy can reach the instance"
    # And every function that connects through the proxy comes after its target is registered.
    for name, fn in functions(template).items():
        host = fn.get("Environment", {}).get("Variables", {}).get("DB_HOST")
        if host is None or "DbProxy" in set(references(host)):
            for tg in of_type(resources, "AWS::RDS::DBProxyTargetGroup"):
                assert tg in upstream(graph, name), f"{name} may start before the proxy has a target"


def test_migration_host_is_the_instance_with_a_bundle_for_its_ca(template: dict[str, Any]) -> None:
    env = functions(template)["MigrateFunction"]["Environment"]["Variables"]
    assert env["DB_HOST"] == {"Fn::GetAtt": ["Database", "Endpoint.Address"]}
    assert env["DB_TLS"] == "verify-full"
    bundle = Path(env["DB_CA_BUNDLE"])
    assert bundle.parent == Path("/var/task")  # the function's artifact root
    makefile = (ROOT / "functions/migrate/Makefile").read_text()
    assert f"$(ARTIFACTS_DIR)/{bundle.name}" in makefile and "BEGIN CERTIFICATE" in makefile


def test_every_login_the_proxy_serves_is_a_role_the_migrations_create(resources: dict[str, Any]) -> None:
    sql = "\n".join(p.read_text() for p in sorted((ROOT / "sql/migrations").glob("*.sql")))
    for entry in resources["DbProxy"]["Properties"]["Auth"]:
        secret = resources[entry["SecretArn"]["Ref"]]
        user = re.search(
            r'"username": "(\w+)"', secret["Properties"]["GenerateSecretString"]["SecretStringTemplate"]["Fn::Sub"]
        )
        assert user and re.search(rf"CREATE ROLE {user.group(1)}\b", sql), entry


# ------------------------------------------------------------- 5. routes vs concurrency
def test_every_function_serving_routes_is_sized_like_the_api(template: dict[str, Any]) -> None:
    api_sized = []
    for name, fn in functions(template).items():
        routes = [e for e in fn.get("Events", {}).values() if e["Type"] == "HttpApi"]
        if not routes:
            continue
        api_sized.append(name)
        assert fn["ReservedConcurrentExecutions"] == {"Ref": "ApiReservedConcurrency"}, (
            f"{name} serves {len(routes)} route(s) but is not sized like the API functions"
        )
    assert "StatsFunction" in api_sized and len(api_sized) >= 4
    assert int(template["Parameters"]["ApiReservedConcurrency"]["MinValue"]) >= 1


# --------------------------------------------------------------- 7. reachable thresholds
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(expression: str, names: dict[str, float]) -> float:
    def walk(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.left), walk(node.right))
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return float(node.value)
        if isinstance(node, ast.Name):
            return names[node.id]
        raise AssertionError(f"unsupported metric math: {ast.dump(node)}")

    return walk(ast.parse(expression, mode="eval"))


def connection_ceiling(template: dict[str, Any], values: dict[str, Any], *, instance: bool) -> int:
    """What the functions can open: per function, reserved concurrency x the logins a container
    holds (DB_SECRET_ID and WRITER_DB_SECRET_ID through the proxy); for the instance, plus the
    functions that connect to it directly (migrations) and one per hosted rotation function."""
    total = 0
    for name, fn in functions(template).items():
        env = fn["Environment"]["Variables"]
        logins = sum(1 for key in ("DB_SECRET_ID", "WRITER_DB_SECRET_ID") if key in env)
        through_proxy = "DbProxy" in set(references(env.get("DB_HOST")))
        if through_proxy or instance:
            total += (
                reserved_concurrency(template, name, values) * logins
                if through_proxy
                else (reserved_concurrency(template, name, values))
            )
    if instance:
        total += len(of_type(template["Resources"], "AWS::SecretsManager::RotationSchedule"))
    return total


@pytest.mark.parametrize(("alarm", "instance"), [("ProxyClientConnectionsAlarm", False), ("DbConnectionsAlarm", True)])
@pytest.mark.parametrize("env", sorted(deploy.environments()))
def test_connection_alarms_are_reachable_and_derived_from_the_parameters(
    alarm: str, instance: bool, env: str, template: dict[str, Any]
) -> None:
    props = template["Resources"][alarm]["Properties"]
    values = parameter_values(template, env_overrides(env))
    (raw,) = [m for m in props["Metrics"] if m.get("ReturnData")]
    (metric,) = [m for m in props["Metrics"] if "MetricStat" in m]
    expression = re.sub(r"\$\{(\w+)\}", lambda m: str(values[m.group(1)]), raw["Expression"]["Fn::Sub"])
    threshold = float(values[props["Threshold"]["Ref"]])
    ceiling = connection_ceiling(template, values, instance=instance)
    at_ceiling = evaluate(expression, {metric["Id"]: ceiling})
    assert at_ceiling == pytest.approx(100), f"{alarm} [{env}]: the expression's ceiling is not {ceiling}"
    assert at_ceiling > threshold, f"{alarm} [{env}] can never fire"
    assert evaluate(expression, {metric["Id"]: 1}) < threshold or ceiling <= 1


# Metrics whose reachable range is set by a parameter: an alarm on one must scale with it (metric
# math naming the parameter), never a constant that is unreachable or always crossed for some values.
PARAMETER_SCALED = {
    "DatabaseConnections": "ApiReservedConcurrency",
    "ClientConnections": "ApiReservedConcurrency",
    "DatabaseConnectionsBorrowLatency": "ProxyConnectionBorrowTimeout",
    "FreeStorageSpace": "DbAllocatedStorage",
}


def math_alarm(props: dict[str, Any], values: dict[str, Any]) -> tuple[str, str, str]:
    """(metric name, metric id, the expression with the parameters' values substituted)."""
    (raw,) = [m for m in props["Metrics"] if m.get("ReturnData")]
    (metric,) = [m for m in props["Metrics"] if "MetricStat" in m]
    expression = re.sub(r"\$\{(\w+)\}", lambda m: str(values[m.group(1)]), raw["Expression"]["Fn::Sub"])
    return metric["MetricStat"]["Metric"]["MetricName"], metric["Id"], expression


def test_alarms_on_parameter_scaled_metrics_scale_with_the_parameter(template: dict[str, Any]) -> None:
    found = set()
    for name, alarm in of_type(template["Resources"], "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        metrics = [props.get("MetricName")] + [
            m["MetricStat"]["Metric"]["MetricName"] for m in props.get("Metrics", []) if "MetricStat" in m
        ]
        for metric in set(metrics) & set(PARAMETER_SCALED):
            parameter = PARAMETER_SCALED[metric]
            assert "Metrics" in props, f"{name}: a fixed threshold on {metric}, which {parameter} scales"
            (raw,) = [m for m in props["Metrics"] if m.get("ReturnData")]
            assert "${" + parameter + "}" in raw["Expression"]["Fn::Sub"], f"{name} does not scale with {parameter}"
            found.add(metric)
    assert found == set(PARAMETER_SCALED)


def _bounds(template: dict[str, Any], parameter: str) -> list[int]:
    p = template["Parameters"][parameter]
    return sorted({int(p["MinValue"]), int(p["Default"]), int(p["MaxValue"])})


def test_borrow_latency_alarm_fires_before_clients_give_up_for_every_borrow_timeout(template: dict[str, Any]) -> None:
    props = template["Resources"]["ProxyBorrowLatencyAlarm"]["Properties"]
    for timeout in _bounds(template, "ProxyConnectionBorrowTimeout"):
        values = parameter_values(template, {"ProxyConnectionBorrowTimeout": str(timeout)})
        _, metric, expression = math_alarm(props, values)
        # DatabaseConnectionsBorrowLatency is in microseconds (RDS User Guide, RDS Proxy metrics).
        at_timeout = evaluate(expression, {metric: timeout * 1_000_000})
        assert at_timeout > props["Threshold"], f"borrow timeout {timeout} s: the alarm can never fire"
        assert evaluate(expression, {metric: 1_000}) < props["Threshold"], f"{timeout} s: 1 ms is an alarm"


def test_free_storage_alarm_stays_quiet_while_autoscaling_works(template: dict[str, Any]) -> None:
    props = template["Resources"]["DbFreeStorageAlarm"]["Properties"]
    assert props["ComparisonOperator"] == "LessThanThreshold"
    for gib in _bounds(template, "DbAllocatedStorage"):
        values = parameter_values(template, {"DbAllocatedStorage": str(gib)})
        _, metric, expression = math_alarm(props, values)
        allocated = gib * 1024**3
        # Storage autoscaling starts below 10 % free (RDS User Guide): that is not an alarm yet.
        assert evaluate(expression, {metric: 0.10 * allocated}) > props["Threshold"], f"{gib} GiB: pages on autoscale"
        assert evaluate(expression, {metric: 0.01 * allocated}) < props["Threshold"], f"{gib} GiB: 1 % free is quiet"


def test_duration_alarms_fire_before_the_timeout(template: dict[str, Any]) -> None:
    fns = functions(template)
    found = 0
    for name, alarm in of_type(template["Resources"], "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if props.get("Namespace") == "AWS/Lambda" and props["MetricName"] == "Duration":
            fn = props["Dimensions"][0]["Value"]["Ref"]
            timeout_ms = fns[fn]["Timeout"] * 1000
            assert 0.5 * timeout_ms <= props["Threshold"] < timeout_ms, name
            found += 1
    assert found == len(fns)


# --------------------------------------------------------------------- 2. rotation
def matches(pattern: Any, event: Any) -> bool:
    """EventBridge's exact-value matching: every pattern key present, the value one of the listed."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(k in event and matches(v, event[k]) for k, v in pattern.items())
    return event in pattern


# The shape of the CloudTrail service event Secrets Manager records when a rotation fails
# (Secrets Manager User Guide, "Log entries for rotation"), as EventBridge delivers it.
ROTATION_FAILED = {
    "version": "0",
    "source": "aws.secretsmanager",
    "detail-type": "AWS Service Event via CloudTrail",
    "detail": {
        "eventSource": "secretsmanager.amazonaws.com",
        "eventName": "RotationFailed",
        "eventType": "AwsServiceEvent",
        "additionalEventData": {
            "SecretId": "arn:aws:secretsmanager:us-east-1:123456789012:secret:blog-dev/db/blog_app"
        },
    },
}


def test_hosted_rotation_leaves_the_runtime_to_the_transform(template: dict[str, Any]) -> None:
    assert "AWS::SecretsManager-2024-09-16" in template["Transform"]
    schedules = of_type(template["Resources"], "AWS::SecretsManager::RotationSchedule")
    assert schedules
    for name, schedule in schedules.items():
        hosted = schedule["Properties"]["HostedRotationLambda"]
        assert "Runtime" not in hosted, f"{name}: the 2024-09-16 transform picks the runtime its function needs"


def test_a_failed_rotation_reaches_the_alarm_topic(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    rules = [
        r["Properties"]
        for r in of_type(resources, "AWS::Events::Rule").values()
        if "EventPattern" in r["Properties"] and matches(r["Properties"]["EventPattern"], ROTATION_FAILED)
    ]
    assert len(rules) == 1, "no rule matches a RotationFailed event"
    assert {"Ref": "AlarmTopic"} in [t["Arn"] for t in rules[0]["Targets"]]
    other = {**ROTATION_FAILED, "detail": {**ROTATION_FAILED["detail"], "eventName": "RotationSucceeded"}}
    assert not matches(rules[0]["EventPattern"], other)
    publishers = {
        service
        for policy in of_type(resources, "AWS::SNS::TopicPolicy").values()
        if {"Ref": "AlarmTopic"} in policy["Properties"]["Topics"]
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if "sns:Publish" in as_list(s["Action"])
        for service in as_list(s["Principal"].get("Service", []))
    }
    assert {"events.amazonaws.com", "cloudwatch.amazonaws.com", "events.rds.amazonaws.com"} <= publishers
    key_services = {
        service
        for s in resources["KmsKey"]["Properties"]["KeyPolicy"]["Statement"]
        for service in as_list(s["Principal"].get("Service", []))
        if isinstance(service, str)
    }
    assert publishers - {"cloudwatch.amazonaws.com"} <= key_services | {"cloudwatch.amazonaws.com"}
    # EventBridge passes no aws:SourceAccount/aws:SourceArn to KMS when it delivers to an
    # encrypted topic (SNS Developer Guide, "Configuring AWS KMS permissions"): a grant that
    # requires them refuses every delivery, silently.
    for s in resources["KmsKey"]["Properties"]["KeyPolicy"]["Statement"]:
        if "events.amazonaws.com" in as_list(s["Principal"].get("Service", [])):
            keys = {k for op in (s.get("Condition") or {}).values() for k in op}
            assert not keys & {"aws:SourceAccount", "aws:SourceArn"}, s
    # The rotation functions also alarm on their own errors (their names are known in advance).
    named = {
        s["Properties"]["HostedRotationLambda"]["RotationLambdaName"]["Fn::Sub"]
        for s in of_type(resources, "AWS::SecretsManager::RotationSchedule").values()
    }
    alarmed = {
        a["Properties"]["Dimensions"][0]["Value"]["Fn::Sub"]
        for a in of_type(resources, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "Errors" and "Fn::Sub" in a["Properties"]["Dimensions"][0]["Value"]
    }
    assert named <= alarmed


def test_rds_events_reach_the_alarm_topic(resources: dict[str, Any]) -> None:
    (sub,) = of_type(resources, "AWS::RDS::EventSubscription").values()
    props = sub["Properties"]
    assert props["SnsTopicArn"] == {"Ref": "AlarmTopic"} and props["SourceIds"] == [{"Ref": "Database"}]
    assert {"failover", "failure", "maintenance", "low storage"} <= set(props["EventCategories"])


# --------------------------------------------------------- deletion and replacement
STATEFUL = {
    "AWS::RDS::DBInstance",
    "AWS::Logs::LogGroup",
    "AWS::SecretsManager::Secret",
    "AWS::KMS::Key",
    "AWS::Cognito::UserPool",
    "AWS::Cognito::UserPoolClient",
    "AWS::Cognito::UserPoolGroup",
    "AWS::SQS::Queue",
    "AWS::Backup::BackupVault",
}


def test_every_stateful_or_identity_resource_states_its_policies(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    for name, r in resources.items():
        if r["Type"] in STATEFUL:
            assert "DeletionPolicy" in r and "UpdateReplacePolicy" in r, name
    for name in ("UserPool", "UserPoolClient", "AdminGroup"):
        # Never conditional: a replaced pool gives every user a new `sub`, in every stage; the
        # group holds the administrators' memberships in the retained pool.
        assert resources[name]["DeletionPolicy"] == "Retain", name
        assert resources[name]["UpdateReplacePolicy"] == "Retain", name
    assert resources["Database"]["UpdateReplacePolicy"] == {"Fn::If": ["IsProd", "Snapshot", "Delete"]}
    # The key that encrypts retained recovery points outlives the stack whenever there are any.
    assert resources["KmsKey"]["DeletionPolicy"] == {"Fn::If": ["KeepKey", "Retain", "Delete"]}
    assert {"Condition": "HasBackupPlan"} in template["Conditions"]["KeepKey"]["Fn::Or"]


def test_validate_runs_cfn_lint_with_the_informational_rules() -> None:
    makefile = (ROOT / "Makefile").read_text()
    validate = makefile[makefile.index("\nvalidate:") : makefile.index("\nbuild:")]
    assert re.search(r"cfn-lint --include-checks I\b", validate)


# ------------------------------------------------------------ log groups made up front
def test_service_log_groups_exist_before_their_services(resources: dict[str, Any]) -> None:
    names = {
        r["Properties"]["LogGroupName"]["Fn::Sub"]: n for n, r in of_type(resources, "AWS::Logs::LogGroup").items()
    }
    identifier = resources["Database"]["Properties"]["DBInstanceIdentifier"]["Fn::Sub"]
    expected = {
        f"/aws/rds/instance/{identifier}/postgresql": "Database",
        "/aws/rds/proxy/" + resources["DbProxy"]["Properties"]["DBProxyName"]["Fn::Sub"]: "DbProxy",
    }
    for schedule, r in of_type(resources, "AWS::SecretsManager::RotationSchedule").items():
        expected["/aws/lambda/" + r["Properties"]["HostedRotationLambda"]["RotationLambdaName"]["Fn::Sub"]] = schedule
    for group, owner in expected.items():
        assert group in names, f"no log group {group} for {owner}"
        assert names[group] in as_list(resources[owner].get("DependsOn", [])), f"{owner} may create {group} first"


def test_bind_parameters_never_reach_the_database_log(resources: dict[str, Any]) -> None:
    params = resources["DbParameterGroup"]["Properties"]["Parameters"]
    assert params["log_parameter_max_length"] == "0"
    assert params["log_parameter_max_length_on_error"] == "0"


def test_proxy_connection_counts_are_summed_over_the_proxys_nodes(resources: dict[str, Any]) -> None:
    """RDS Proxy publishes ClientConnections and DatabaseConnections per underlying node, every
    minute (RDS User Guide, "Monitoring RDS Proxy metrics": most useful statistic Sum). An alarm on
    Maximum sees one node against the whole proxy's ceiling and may never fire; a Sum over more than
    a minute adds several readings of the same gauge."""
    checked = 0
    for name, alarm in of_type(resources, "AWS::CloudWatch::Alarm").items():
        for query in alarm["Properties"].get("Metrics") or []:
            stat = query.get("MetricStat")
            if not stat:
                continue
            metric = stat["Metric"]
            dims = {d["Name"] for d in metric.get("Dimensions", [])}
            if metric["MetricName"] in ("ClientConnections", "DatabaseConnections") and "ProxyName" in dims:
                assert (stat["Stat"], stat["Period"]) == ("Sum", 60), name
                checked += 1
    assert checked >= 1
