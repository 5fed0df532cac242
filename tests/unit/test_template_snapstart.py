"""SnapStart wiring in template.yaml: published versions behind an alias, every event on the
alias, the hooks registered by every function that SnapStart snapshots.

Facts checked against AWS documentation:
* SnapStart applies to published versions only; invoking $LATEST never restores a snapshot
  (AWS Lambda Developer Guide, "Improving startup performance with Lambda SnapStart").
* It supports Python 3.12 and later, on x86_64 and arm64, and cannot be combined with
  provisioned concurrency, Amazon EFS or ephemeral storage above 512 MB (same guide,
  "SnapStart limitations" / "Supported features and limitations").
* With AutoPublishAlias, SAM publishes a version, creates the alias and points every event
  source at the alias, not at the function (SAM Developer Guide, AutoPublishAlias; SAM's
  "safe Lambda deployments": "Point all event sources to the Alias & not to the function").
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import cfn_yaml

ROOT = Path(__file__).resolve().parents[2]
SNAPSTART_FUNCTIONS = {
    # function -> its module (whose import must register the hooks)
    "UsersFunction": "functions/users/users_app.py",
    "PostsFunction": "functions/posts/posts_app.py",
    "CommentsFunction": "functions/comments/comments_app.py",
    "StatsFunction": "functions/stats/stats_app.py",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load(str(ROOT / "template.yaml"))


def props(template: dict[str, Any], name: str) -> dict[str, Any]:
    globals_ = template.get("Globals", {}).get("Function", {})
    return {**globals_, **template["Resources"][name]["Properties"]}


def test_snapstart_is_a_parameter_on_by_default(template: dict[str, Any]) -> None:
    param = template["Parameters"]["EnableSnapStart"]
    assert param["Default"] == "true"
    assert sorted(param["AllowedValues"]) == ["false", "true"]
    assert template["Conditions"]["UseSnapStart"] == {"Fn::Equals": [{"Ref": "EnableSnapStart"}, "true"]}


@pytest.mark.parametrize("name", sorted(SNAPSTART_FUNCTIONS))
def test_api_functions_publish_versions_behind_an_alias_with_snapstart(template: dict[str, Any], name: str) -> None:
    p = props(template, name)
    assert p["SnapStart"] == {"ApplyOn": {"Fn::If": ["UseSnapStart", "PublishedVersions", "None"]}}
    # SnapStart only ever restores a published version: the alias is what the events invoke
    assert p["AutoPublishAlias"] == "live"
    assert p["AutoPublishAliasAllProperties"] is True  # a configuration change publishes too
    # supported: Python 3.12+, arm64; incompatible: provisioned concurrency, EFS, > 512 MB /tmp
    runtime = p["Runtime"]
    assert runtime.startswith("python3.") and int(runtime.split(".")[1]) >= 12
    assert p["Architectures"] == ["arm64"]
    assert "ProvisionedConcurrencyConfig" not in p
    assert "FileSystemConfigs" not in p
    assert int(p.get("EphemeralStorage", {}).get("Size", 512)) <= 512


def test_the_cognito_trigger_is_on_a_snapstart_function(template: dict[str, Any]) -> None:
    # The trigger must answer Cognito within 5 s: its function restores, it does not cold-start.
    events = props(template, "UsersFunction")["Events"]
    assert any(e["Type"] == "Cognito" for e in events.values())
    assert "SnapStart" in props(template, "UsersFunction")


def test_nothing_invokes_a_snapstart_function_unqualified(template: dict[str, Any]) -> None:
    """Only SAM's events (pointed at the alias) may invoke these functions: a hand-written
    permission, event source or integration naming the function's ARN would run $LATEST,
    which SnapStart never snapshots."""

    def arn_refs(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::GetAtt"}:
                target = node["Fn::GetAtt"]
                target = target.split(".") if isinstance(target, str) else target
                if target[0] in SNAPSTART_FUNCTIONS and target[1] == "Arn":
                    yield target[0]
            for value in node.values():
                yield from arn_refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from arn_refs(value)

    for name, resource in template["Resources"].items():
        if resource["Type"] in {"AWS::Lambda::Permission", "AWS::Lambda::EventSourceMapping", "AWS::Events::Rule"}:
            assert not list(arn_refs(resource)), name
        if resource["Type"].startswith(("AWS::ApiGatewayV2::", "AWS::Cognito::")):
            assert not list(arn_refs(resource)), name


@pytest.mark.parametrize("name", sorted(SNAPSTART_FUNCTIONS))
def test_every_snapstart_function_registers_the_hooks_at_import(name: str) -> None:
    source = (ROOT / SNAPSTART_FUNCTIONS[name]).read_text()
    assert "from shared import snapstart" in source
    assert re.search(r"^snapstart\.register\(\s*app\b", source, re.MULTILINE)


def test_prod_turns_snapstart_on() -> None:
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert "EnableSnapStart=true" in config["prod"]["deploy"]["parameters"]["parameter_overrides"]
