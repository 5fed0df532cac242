"""template.yaml, read as CloudFormation reads it (cfn-lint's loader understands !Ref, !Sub, !GetAtt...).

No AWS account and no Docker: these tests pin down what the deployed stack must hold, on the parsed
template itself. `make validate` runs sam validate --lint, cfn-lint and checkov on top of them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

from shared.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"

AUTHORIZER = "CognitoJwt"
PUBLIC = "NONE"

# Every route of the API: (method, path) -> (function, authorizer). Explicit routes only.
ROUTES: dict[tuple[str, str], tuple[str, str]] = {
    ("POST", "/users"): ("UsersFunction", AUTHORIZER),
    ("GET", "/users"): ("UsersFunction", PUBLIC),
    ("GET", "/admin/users/statistics"): ("UsersFunction", AUTHORIZER),
    ("GET", "/admin/users/by-email"): ("UsersFunction", AUTHORIZER),
    ("GET", "/users/{user_id}"): ("UsersFunction", PUBLIC),
    ("PATCH", "/users/{user_id}"): ("UsersFunction", AUTHORIZER),
    ("DELETE", "/users/{user_id}"): ("UsersFunction", AUTHORIZER),
    ("GET", "/users/{user_id}/profile"): ("UsersFunction", PUBLIC),
    ("PUT", "/users/{user_id}/profile"): ("UsersFunction", AUTHORIZER),
    ("GET", "/users/{user_id}/posts"): ("UsersFunction", PUBLIC),
    ("GET", "/me"): ("UsersFunction", AUTHORIZER),
    ("PATCH", "/me"): ("UsersFunction", AUTHORIZER),
    ("GET", "/me/posts"): ("UsersFunction", AUTHORIZER),
    ("POST", "/posts"): ("PostsFunction", AUTHORIZER),
    ("GET", "/posts"): ("PostsFunction", PUBLIC),
    ("GET", "/posts/popular"): ("PostsFunction", PUBLIC),
    ("GET", "/posts/by-slug/{slug}"): ("PostsFunction", PUBLIC),
    ("GET", "/posts/{post_id}"): ("PostsFunction", PUBLIC),
    ("GET", "/me/posts/{post_id}"): ("PostsFunction", AUTHORIZER),
    ("GET", "/admin/posts/{post_id}"): ("PostsFunction", AUTHORIZER),
    ("PATCH", "/posts/{post_id}"): ("PostsFunction", AUTHORIZER),
    ("DELETE", "/posts/{post_id}"): ("PostsFunction", AUTHORIZER),
    ("POST", "/posts/{post_id}/views"): ("PostsFunction", PUBLIC),
    ("PUT", "/posts/{post_id}/like"): ("PostsFunction", AUTHORIZER),
    ("DELETE", "/posts/{post_id}/like"): ("PostsFunction", AUTHORIZER),
    ("POST", "/posts/{post_id}/transfer"): ("PostsFunction", AUTHORIZER),
    ("GET", "/posts/{post_id}/comments"): ("CommentsFunction", PUBLIC),
    ("GET", "/admin/posts/{post_id}/comments"): ("CommentsFunction", AUTHORIZER),
    ("POST", "/posts/{post_id}/comments"): ("CommentsFunction", AUTHORIZER),
    ("PATCH", "/comments/{comment_id}"): ("CommentsFunction", AUTHORIZER),
    ("DELETE", "/comments/{comment_id}"): ("CommentsFunction", AUTHORIZER),
    ("POST", "/comments/{comment_id}/hide"): ("CommentsFunction", AUTHORIZER),
    ("POST", "/comments/{comment_id}/unhide"): ("CommentsFunction", AUTHORIZER),
    ("PUT", "/comments/{comment_id}/like"): ("CommentsFunction", AUTHORIZER),
    ("DELETE", "/comments/{comment_id}/like"): ("CommentsFunction", AUTHORIZER),
    ("GET", "/stats"): ("StatsFunction", PUBLIC),
    ("GET", "/admin/stats/history"): ("StatsFunction", AUTHORIZER),
    ("GET", "/health"): ("StatsFunction", PUBLIC),
}

# function -> (CodeUri, Handler, POWERTOOLS_SERVICE_NAME, DB_SECRET_ID, DB_USER)
MASTER_SECRET = {"Fn::GetAtt": ["Database", "MasterUserSecret.SecretArn"]}
FUNCTIONS: dict[str, tuple[str, str, str, Any, Any]] = {
    "UsersFunction": ("functions/users/", "users_app.handler", "users", {"Ref": "AppDbSecret"}, "blog_app"),
    "PostsFunction": ("functions/posts/", "posts_app.handler", "posts", {"Ref": "AppDbSecret"}, "blog_app"),
    "CommentsFunction": ("functions/comments/", "comments_app.handler", "comments", {"Ref": "AppDbSecret"}, "blog_app"),
    "StatsFunction": ("functions/stats/", "stats_app.handler", "stats", {"Ref": "ReadonlyDbSecret"}, "blog_readonly"),
    "MigrateFunction": (
        "functions/migrate/",
        "migrate_app.handler",
        "migrate",
        MASTER_SECRET,
        {"Ref": "DbMasterUsername"},
    ),
}
API_FUNCTIONS = ("UsersFunction", "PostsFunction", "CommentsFunction", "StatsFunction")

# Data-plane actions that must always name their resources.
DATA_PLANE = re.compile(r"^(secretsmanager:.*|kms:(decrypt|generatedatakey.*|encrypt|\*)|rds-db:.*|sqs:.*)$", re.I)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(TEMPLATE_PATH))


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def merged(base: Any, override: Any) -> Any:
    """SAM's Globals merge: maps merge key by key, lists concatenate, scalars are replaced."""
    if isinstance(base, dict) and isinstance(override, dict) and not _intrinsic(base) and not _intrinsic(override):
        out = dict(base)
        for key, value in override.items():
            out[key] = merged(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(override, list):
        return [*base, *override]
    return override


def _intrinsic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


@pytest.fixture(scope="module")
def functions(template: dict[str, Any], resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each function's properties with the Globals applied."""
    globals_ = template.get("Globals", {}).get("Function", {})
    return {
        name: merged(globals_, r.get("Properties", {}))
        for name, r in of_type(resources, "AWS::Serverless::Function").items()
    }


def http_routes(resources: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for name, fn in of_type(resources, "AWS::Serverless::Function").items():
        for event in fn["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                props = event["Properties"]
                yield name, props["Method"].upper(), props["Path"], props


def statements(document: Any) -> Iterator[dict[str, Any]]:
    """Policy statements, including both branches of an Fn::If."""
    items = document.get("Statement", []) if isinstance(document, dict) else []
    for item in items if isinstance(items, list) else [items]:
        yield from _branches(item)


def _branches(item: Any) -> Iterator[dict[str, Any]]:
    if isinstance(item, dict) and "Fn::If" in item:
        for branch in item["Fn::If"][1:]:
            yield from _branches(branch)
    elif isinstance(item, dict) and item != {"Ref": "AWS::NoValue"}:
        yield item


def identity_policies(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy granted to an identity: IAM roles/policies and the functions' SAM Policies."""
    for name, r in resources.items():
        props = r.get("Properties", {})
        if r["Type"] == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                yield name, policy["PolicyDocument"]
        elif r["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield name, props["PolicyDocument"]
        elif r["Type"] == "AWS::Serverless::Function":
            for policy in props.get("Policies", []):
                assert isinstance(policy, dict) and "Statement" in policy, (
                    f"{name}: use inline policy documents (named SAM policy templates hide their resources)"
                )
                yield name, policy


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ------------------------------------------------------------------------------- transforms
def test_transforms_include_sam_and_the_hosted_rotation_transform(template: dict[str, Any]) -> None:
    transforms = as_list(template["Transform"])
    assert "AWS::Serverless-2016-10-31" in transforms
    assert "AWS::SecretsManager-2024-09-16" in transforms
    # DeletionPolicy with Fn::If needs the language extensions, processed first.
    assert transforms[0] == "AWS::LanguageExtensions"


# -------------------------------------------------------------------------------- functions
def test_the_expected_functions_with_their_code_and_handlers(functions: dict[str, dict[str, Any]]) -> None:
    assert set(functions) == set(FUNCTIONS)
    for name, (code_uri, handler, _service, _secret, _user) in FUNCTIONS.items():
        assert functions[name]["CodeUri"] == code_uri, name
        assert functions[name]["Handler"] == handler, name
        assert (ROOT / code_uri).is_dir(), f"{name}: {code_uri} does not exist"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_is_arm64_python313_in_the_vpc_with_the_layer(
    name: str, functions: dict[str, dict[str, Any]]
) -> None:
    fn = functions[name]
    assert fn["Runtime"] == "python3.13"
    assert fn["Architectures"] == ["arm64"]
    assert {"Ref": "SharedLayer"} in fn["Layers"]
    assert fn["Tracing"] == "Active"
    vpc = fn["VpcConfig"]
    assert sorted(s["Ref"] for s in vpc["SubnetIds"]) == ["PrivateSubnetA", "PrivateSubnetB"]
    assert len(vpc["SecurityGroupIds"]) == 1, "one security group per function (SAM concatenates Globals lists)"
    assert "ReservedConcurrentExecutions" in fn


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_logs_to_its_own_encrypted_log_group(
    name: str, functions: dict[str, dict[str, Any]], resources: dict[str, Any]
) -> None:
    fn = functions[name]
    group = resources[fn["LoggingConfig"]["LogGroup"]["Ref"]]
    assert group["Type"] == "AWS::Logs::LogGroup"
    suffix = fn["FunctionName"]["Fn::Sub"].removeprefix("${AWS::StackName}")
    assert group["Properties"]["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${AWS::StackName}" + suffix}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_environment_follows_the_settings_contract(name: str, functions: dict[str, dict[str, Any]]) -> None:
    _code, _handler, service, secret, user = FUNCTIONS[name]
    env = functions[name]["Environment"]["Variables"]
    assert env["POWERTOOLS_SERVICE_NAME"] == service
    if name == "MigrateFunction":  # the instance itself, before the proxy's target exists
        assert env["DB_HOST"] == {"Fn::GetAtt": ["Database", "Endpoint.Address"]}
        assert env["DB_AUTH"] == "secret"
    else:
        assert env["DB_HOST"] == {"Fn::GetAtt": ["DbProxy", "Endpoint"]}
        assert env["DB_AUTH"] == {"Ref": "DbAuthMode"}
    assert env["DB_PORT"] == "5432"
    assert env["DB_NAME"] == {"Ref": "DbName"}
    assert env["DB_TLS"] == "verify-full"
    assert env["DB_SECRET_ID"] == secret
    assert env["DB_USER"] == user
    assert env["STAGE"] == {"Ref": "Stage"}
    for key in ("POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL", "POWERTOOLS_LOGGER_SAMPLE_RATE"):
        assert key in env, key


ROLE_STATEMENT_TIMEOUT = {"blog_app": 5, "blog_readonly": 30}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_client_timeout_sits_between_the_role_timeout_and_the_function_timeout(
    name: str, functions: dict[str, dict[str, Any]], template: dict[str, Any]
) -> None:
    """The server cancels a slow statement first (a clean 503); a frozen server is still answered
    503 by the client timeout before Lambda kills the request."""
    fn = functions[name]
    timeout = fn["Timeout"]
    query_timeout = float(fn["Environment"]["Variables"]["DB_QUERY_TIMEOUT"])
    assert query_timeout < timeout, name
    user = FUNCTIONS[name][4]
    if isinstance(user, str) and user in ROLE_STATEMENT_TIMEOUT:
        assert query_timeout > ROLE_STATEMENT_TIMEOUT[user], name
    roles = (ROOT / "sql" / "migrations" / "0002_create_app_roles.sql").read_text()
    for role, seconds in ROLE_STATEMENT_TIMEOUT.items():
        assert f"ALTER ROLE {role} SET statement_timeout = '{seconds}s'" in roles


@pytest.mark.parametrize("auth", ["secret", "iam"])
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_environment_parses_with_the_layers_settings(
    name: str, auth: str, functions: dict[str, dict[str, Any]]
) -> None:
    """The variables the template sets are enough for shared.settings, in both auth modes."""
    env = {k: _placeholder(k, v) for k, v in functions[name]["Environment"]["Variables"].items()}
    if "DB_CA_BUNDLE" in env:  # built into the artifact (functions/migrate/Makefile); any PEM file here
        env["DB_CA_BUNDLE"] = str(ROOT / "layers/shared/shared/certs/amazon-trust-services.pem")
    if env.get("DB_AUTH") != "secret":
        env["DB_AUTH"] = auth
    settings = load_settings(env)
    assert settings.db.port == 5432
    assert settings.db.tls == "verify-full"
    assert settings.service == FUNCTIONS[name][2]


def _placeholder(key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    return f"resolved-{key.lower()}"


def test_stats_function_env_and_schedule(functions: dict[str, dict[str, Any]], resources: dict[str, Any]) -> None:
    stats = functions["StatsFunction"]
    env = stats["Environment"]["Variables"]
    assert env["WRITER_DB_SECRET_ID"] == {"Ref": "AppDbSecret"}
    assert "DB_READER_HOST" not in env  # no read replica: see docs/INFRASTRUCTURE.md
    schedule = stats["Events"]["SnapshotSchedule"]
    assert schedule["Type"] == "Schedule"
    assert schedule["Properties"]["Schedule"] == {"Ref": "StatsScheduleRate"}
    assert schedule["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    dlq = schedule["Properties"]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert stats["DeadLetterQueue"]["TargetArn"]["Fn::GetAtt"][0] == dlq
    assert resources[dlq]["Type"] == "AWS::SQS::Queue"
    assert resources[dlq]["Properties"]["KmsMasterKeyId"] == {"Ref": "KmsKey"}


def test_migrate_function_gets_all_three_secrets_and_a_long_timeout(functions: dict[str, dict[str, Any]]) -> None:
    migrate = functions["MigrateFunction"]
    env = migrate["Environment"]["Variables"]
    assert env["APP_DB_SECRET_ID"] == {"Ref": "AppDbSecret"}
    assert env["READONLY_DB_SECRET_ID"] == {"Ref": "ReadonlyDbSecret"}
    assert migrate["Timeout"] >= 120
    assert migrate["VpcConfig"]["SecurityGroupIds"] == [{"Ref": "MigrateSecurityGroup"}]


def test_schema_migrations_custom_resource_runs_before_the_api(
    resources: dict[str, Any], template: dict[str, Any]
) -> None:
    custom = resources["SchemaMigrations"]
    assert custom["Type"] == "Custom::SchemaMigrations"
    assert custom["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
    assert custom["Properties"]["MigrationsHash"] == {"Ref": "MigrationsHash"}
    assert "MigrationsHash" in template["Parameters"]
    for name in API_FUNCTIONS:
        assert {"SchemaMigrations", "DbProxyTargetGroup"} <= set(as_list(resources[name].get("DependsOn", []))), name
    needs = set(as_list(custom["DependsOn"]))
    assert {"SecretsManagerEndpoint", "S3GatewayEndpoint", "DbIngressFromMigrate"} <= needs


def test_builds_that_sam_cannot_do_alone_use_makefiles(resources: dict[str, Any]) -> None:
    layer = resources["SharedLayer"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert layer["Properties"]["ContentUri"] == "layers/shared/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert "build-SharedLayer:" in (ROOT / "layers/shared/Makefile").read_text()
    assert resources["MigrateFunction"]["Metadata"]["BuildMethod"] == "makefile"
    assert "build-MigrateFunction:" in (ROOT / "functions/migrate/Makefile").read_text()


def test_users_function_is_the_cognito_post_authentication_trigger(resources: dict[str, Any]) -> None:
    events = resources["UsersFunction"]["Properties"]["Events"]
    cognito = [e["Properties"] for e in events.values() if e["Type"] == "Cognito"]
    assert cognito == [{"UserPool": {"Ref": "UserPool"}, "Trigger": "PostAuthentication"}]


# ------------------------------------------------------------------------------------ API
def test_every_route_is_explicit_with_the_right_authorizer(resources: dict[str, Any]) -> None:
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for function, method, path, props in http_routes(resources):
        assert props["ApiId"] == {"Ref": "HttpApi"}
        assert (method, path) not in found, f"duplicate route {method} {path}"
        found[(method, path)] = (function, props.get("Auth", {}).get("Authorizer", "<default>"))
    assert found == ROUTES


def test_no_catch_all_routes(resources: dict[str, Any]) -> None:
    for _function, method, path, _props in http_routes(resources):
        assert "{proxy+}" not in path and "+}" not in path
        assert path != "$default" and method not in ("ANY", "X-AMAZON-APIGATEWAY-ANY-METHOD")


def test_http_api_authorizer_logs_cors_and_throttling(resources: dict[str, Any]) -> None:
    api = resources["HttpApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    props = api["Properties"]
    auth = props["Auth"]
    assert auth["DefaultAuthorizer"] == AUTHORIZER  # a route added without Auth is protected
    jwt = auth["Authorizers"][AUTHORIZER]["JwtConfiguration"]
    assert jwt["issuer"]["Fn::If"][0] == "HasJwtIssuer"
    assert jwt["audience"] == [{"Fn::If": ["HasJwtAudience", {"Ref": "JwtAudience"}, {"Ref": "UserPoolClient"}]}]
    assert props["CorsConfiguration"]["AllowOrigins"] == {"Ref": "CorsAllowedOrigins"}
    assert props["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert props["AccessLogSettings"]["Format"].startswith("{")
    assert {"ThrottlingBurstLimit", "ThrottlingRateLimit"} <= set(props["DefaultRouteSettings"])
    assert "StageVariables" not in props


def test_the_public_view_counter_has_its_own_lower_throttle(template: dict[str, Any]) -> None:
    props = template["Resources"]["HttpApi"]["Properties"]
    views = props["RouteSettings"]["POST /posts/{post_id}/views"]
    parameters = template["Parameters"]
    assert 0 < views["ThrottlingRateLimit"] < parameters["ApiThrottlingRateLimit"]["Default"]
    assert (
        views["ThrottlingRateLimit"] <= views["ThrottlingBurstLimit"] < parameters["ApiThrottlingBurstLimit"]["Default"]
    )
    # the key is a route of the API: a typo would throttle nothing
    assert ("POST", "/posts/{post_id}/views") in ROUTES


def test_user_pool_and_client(resources: dict[str, Any]) -> None:
    pool = resources["UserPool"]["Properties"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    password = pool["Policies"]["PasswordPolicy"]
    assert password["MinimumLength"] >= 12
    assert all(password[k] for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"))
    assert resources["UserPoolClient"]["Properties"]["GenerateSecret"] is False
    assert resources["AdminGroup"]["Properties"]["GroupName"] == "admin"


def test_a_changed_email_stays_unverified_until_the_user_proves_it(resources: dict[str, Any]) -> None:
    pool = resources["UserPool"]["Properties"]
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["UserAttributeUpdateSettings"] == {"AttributesRequireVerificationBeforeUpdate": ["email"]}


# ----------------------------------------------------------------------- data and secrets
def test_every_log_group_has_retention_and_the_key(resources: dict[str, Any]) -> None:
    groups = of_type(resources, "AWS::Logs::LogGroup")
    assert len(groups) >= len(FUNCTIONS) + 1
    for name, group in groups.items():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["KmsKey", "Arn"]}, name


def test_database_is_encrypted_managed_and_monitored(resources: dict[str, Any]) -> None:
    db = resources["Database"]["Properties"]
    key = {"Fn::GetAtt": ["KmsKey", "Arn"]}
    assert db["StorageEncrypted"] is True and db["KmsKeyId"] == key
    assert db["StorageType"] == "gp3" and "MaxAllocatedStorage" in db
    assert db["ManageMasterUserPassword"] is True and db["MasterUserSecret"]["KmsKeyId"] == key
    assert "MasterUserPassword" not in db
    assert db["PubliclyAccessible"] is False
    assert db["EnablePerformanceInsights"] is True and db["PerformanceInsightsKMSKeyId"] == key
    assert db["MonitoringRoleArn"] == {"Fn::GetAtt": ["DbMonitoringRole", "Arn"]}
    assert db["EnableCloudwatchLogsExports"] == ["postgresql"]
    assert db["CopyTagsToSnapshot"] is True and db["AutoMinorVersionUpgrade"] is True
    assert db["MultiAZ"] == {"Ref": "MultiAZ"}
    assert db["BackupRetentionPeriod"] == {"Ref": "BackupRetentionDays"}
    assert db["DeletionProtection"] == {"Fn::If": ["IsProd", True, False]}
    assert resources["Database"]["DeletionPolicy"] == {"Fn::If": ["IsProd", "Snapshot", "Delete"]}
    assert resources["KmsKey"]["Properties"]["EnableKeyRotation"] is True


def test_parameter_group_forces_tls_and_tracks_statements(resources: dict[str, Any]) -> None:
    params = resources["DbParameterGroup"]["Properties"]["Parameters"]
    assert params["rds.force_ssl"] == "1"
    assert "pg_stat_statements" in params["shared_preload_libraries"]
    assert "log_min_duration_statement" in params
    assert "idle_in_transaction_session_timeout" in params


def test_proxy_requires_tls_and_serves_exactly_the_two_application_logins(resources: dict[str, Any]) -> None:
    proxy = resources["DbProxy"]["Properties"]
    assert proxy["EngineFamily"] == "POSTGRESQL"
    assert proxy["RequireTLS"] is True
    secrets = [entry["SecretArn"] for entry in proxy["Auth"]]
    assert secrets == [{"Ref": "AppDbSecret"}, {"Ref": "ReadonlyDbSecret"}]
    for entry in proxy["Auth"]:
        assert entry["AuthScheme"] == "SECRETS"
        assert entry["IAMAuth"] == {"Fn::If": ["UseIamAuth", "REQUIRED", "DISABLED"]}
    role_policy = resources["DbProxyRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    readable = [
        s["Resource"] for s in statements(role_policy) if "secretsmanager:GetSecretValue" in as_list(s["Action"])
    ]
    assert readable == [secrets]


def test_proxy_borrow_timeout_stays_below_the_api_timeout(
    template: dict[str, Any], resources: dict[str, Any], functions: dict[str, dict[str, Any]]
) -> None:
    pool = resources["DbProxyTargetGroup"]["Properties"]["ConnectionPoolConfigurationInfo"]
    borrow = template["Parameters"][pool["ConnectionBorrowTimeout"]["Ref"]]
    for name in ("UsersFunction", "PostsFunction", "CommentsFunction"):
        assert borrow["Default"] < functions[name]["Timeout"]
        assert borrow["MaxValue"] < functions[name]["Timeout"]
    assert "MaxConnectionsPercent" in pool


def test_role_secrets_are_generated_encrypted_attached_to_the_instance_and_rotated(resources: dict[str, Any]) -> None:
    for secret, user in (("AppDbSecret", "blog_app"), ("ReadonlyDbSecret", "blog_readonly")):
        props = resources[secret]["Properties"]
        assert props["KmsKeyId"] == {"Fn::GetAtt": ["KmsKey", "Arn"]}
        generate = props["GenerateSecretString"]
        assert f'"username": "{user}"' in generate["SecretStringTemplate"]["Fn::Sub"]
        for key in ("engine", "host", "port", "dbname"):
            assert f'"{key}":' in generate["SecretStringTemplate"]["Fn::Sub"]
        assert generate["GenerateStringKey"] == "password"
        assert all(c in generate["ExcludeCharacters"] for c in "\"'\\/@:?#%&+ ")
        attachments = [
            a["Properties"]
            for a in of_type(resources, "AWS::SecretsManager::SecretTargetAttachment").values()
            if a["Properties"]["SecretId"] == {"Ref": secret}
        ]
        assert attachments == [
            {"SecretId": {"Ref": secret}, "TargetId": {"Ref": "Database"}, "TargetType": "AWS::RDS::DBInstance"}
        ]
        schedules = [
            s["Properties"]
            for s in of_type(resources, "AWS::SecretsManager::RotationSchedule").values()
            if s["Properties"]["SecretId"] == {"Ref": secret}
        ]
        assert len(schedules) == 1
        hosted = schedules[0]["HostedRotationLambda"]
        assert hosted["RotationType"] == "PostgreSQLSingleUser"
        assert hosted["VpcSecurityGroupIds"] == {"Ref": "RotationSecurityGroup"}
        assert "VpcSubnetIds" in hosted and "ScheduleExpression" in schedules[0]["RotationRules"]


def test_queues_and_topics_use_the_key(resources: dict[str, Any]) -> None:
    for name, r in {**of_type(resources, "AWS::SQS::Queue"), **of_type(resources, "AWS::SNS::Topic")}.items():
        assert r["Properties"]["KmsMasterKeyId"] == {"Ref": "KmsKey"}, name


# -------------------------------------------------------------------------------- IAM
def test_no_wildcard_resource_on_data_plane_actions(resources: dict[str, Any]) -> None:
    checked = 0
    for owner, document in identity_policies(resources):
        for statement in statements(document):
            actions = [a for a in as_list(statement.get("Action", [])) if isinstance(a, str)]
            if not any(DATA_PLANE.match(a) for a in actions):
                continue
            checked += 1
            for resource in as_list(statement["Resource"]):
                assert resource != "*", f"{owner}: {actions} on Resource '*'"
                if isinstance(resource, str):
                    assert "*" not in resource, f"{owner}: {actions} on {resource}"
    assert checked >= 10


def test_functions_read_exactly_their_secrets(resources: dict[str, Any]) -> None:
    expected = {
        "UsersFunction": [{"Ref": "AppDbSecret"}],
        "PostsFunction": [{"Ref": "AppDbSecret"}],
        "CommentsFunction": [{"Ref": "AppDbSecret"}],
        "StatsFunction": [{"Ref": "ReadonlyDbSecret"}, {"Ref": "AppDbSecret"}],
        "MigrateFunction": [MASTER_SECRET, {"Ref": "AppDbSecret"}, {"Ref": "ReadonlyDbSecret"}],
    }
    for owner, document in identity_policies(resources):
        if owner not in expected:
            continue
        granted = [
            resource
            for statement in statements(document)
            if any(a.startswith("secretsmanager:") for a in as_list(statement["Action"]))
            for resource in as_list(statement["Resource"])
        ]
        assert granted == expected[owner], owner


# ---------------------------------------------------------------------------- network
def test_no_internet_paths(resources: dict[str, Any]) -> None:
    kinds = {r["Type"] for r in resources.values()}
    assert not kinds & {"AWS::EC2::NatGateway", "AWS::EC2::InternetGateway", "AWS::EC2::EIP"}
    for subnet in of_type(resources, "AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    endpoint = resources["SecretsManagerEndpoint"]["Properties"]
    assert endpoint["VpcEndpointType"] == "Interface" and endpoint["PrivateDnsEnabled"] is True
    assert endpoint["SecurityGroupIds"] == [{"Ref": "EndpointSecurityGroup"}]


def _ingress_rules(resources: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, sg in of_type(resources, "AWS::EC2::SecurityGroup").items():
        for rule in sg["Properties"].get("SecurityGroupIngress", []):
            yield name, rule
    for rule in of_type(resources, "AWS::EC2::SecurityGroupIngress").values():
        yield rule["Properties"]["GroupId"]["Ref"], rule["Properties"]


def test_no_open_ingress_and_only_postgres_or_https(resources: dict[str, Any]) -> None:
    for group, rule in _ingress_rules(resources):
        assert "CidrIp" not in rule and "CidrIpv6" not in rule, f"{group}: ingress from an address range"
        assert (rule["FromPort"], rule["ToPort"]) in ((5432, 5432), (443, 443)), group
        assert rule.get("Description"), group


def test_security_groups_chain_lambda_to_proxy_to_db(resources: dict[str, Any]) -> None:
    sources: dict[str, set[str]] = {}
    for group, rule in _ingress_rules(resources):
        if rule["FromPort"] == 5432:
            sources.setdefault(group, set()).add(rule["SourceSecurityGroupId"]["Ref"])
    assert sources["ProxySecurityGroup"] == {"LambdaSecurityGroup"}
    assert sources["DbSecurityGroup"] == {"ProxySecurityGroup", "RotationSecurityGroup", "MigrateSecurityGroup"}
    db_groups = resources["Database"]["Properties"]["VPCSecurityGroups"]
    assert db_groups == [{"Ref": "DbSecurityGroup"}]
    assert resources["DbProxy"]["Properties"]["VpcSecurityGroupIds"] == [{"Ref": "ProxySecurityGroup"}]


# ------------------------------------------------------------------------- operations
def test_alarms_cover_api_functions_and_database(resources: dict[str, Any]) -> None:
    alarms = of_type(resources, "AWS::CloudWatch::Alarm").values()
    seen = {
        (m["Namespace"], m["MetricName"])
        for a in alarms
        for m in [a["Properties"]]
        + [q["MetricStat"]["Metric"] for q in a["Properties"].get("Metrics", []) if "MetricStat" in q]
        if isinstance(m.get("Namespace"), str)
    }
    for metric in (
        ("AWS/ApiGateway", "5xx"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "FreeStorageSpace"),
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/RDS", "ClientConnections"),
        ("AWS/RDS", "FreeableMemory"),
        ("AWS/RDS", "ReadLatency"),
        ("AWS/RDS", "WriteLatency"),
        ("AWS/RDS", "DiskQueueDepth"),
        ("AWS/RDS", "MaximumUsedTransactionIDs"),
        ("AWS/RDS", "AvailabilityPercentage"),
        ("AWS/RDS", "DatabaseConnectionsBorrowLatency"),
        ("AWS/Lambda", "Duration"),
    ):
        assert metric in seen, metric
    per_function = {
        (a["Properties"]["MetricName"], a["Properties"]["Dimensions"][0]["Value"]["Ref"])
        for a in alarms
        if a["Properties"].get("Namespace") == "AWS/Lambda" and "Ref" in a["Properties"]["Dimensions"][0]["Value"]
    }
    assert per_function == {(m, f) for m in ("Errors", "Throttles", "Duration") for f in FUNCTIONS}
    for alarm in alarms:
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_checkov_skips_carry_their_reasons(resources: dict[str, Any]) -> None:
    for name, r in resources.items():
        for skip in r.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), name
            assert len(skip.get("comment", "")) > 20, f"{name}: {skip['id']} needs a reason"


def test_outputs(template: dict[str, Any]) -> None:
    assert {
        "ApiUrl",
        "UserPoolId",
        "UserPoolClientId",
        "ProxyEndpoint",
        "MasterDbSecretArn",
        "AppDbSecretArn",
        "ReadonlyDbSecretArn",
        "DashboardUrl",
    } <= set(template["Outputs"])


# ---------------------------------------------------------------------------- samconfig
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_samconfig_overrides_name_real_parameters_with_allowed_values(env: str, template: dict[str, Any]) -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    deploy = config[env]["deploy"]["parameters"]
    assert "CAPABILITY_AUTO_EXPAND" in deploy["capabilities"]  # the rotation transform adds a nested stack
    assert config[env]["global"]["parameters"]["stack_name"]
    for override in deploy["parameter_overrides"]:
        key, _, value = override.partition("=")
        assert key in template["Parameters"], override
        allowed = template["Parameters"][key].get("AllowedValues")
        if allowed:
            assert value in [str(a) for a in allowed], override
    assert deploy["confirm_changeset"] is (env == "prod")
