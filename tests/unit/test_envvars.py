"""SAM CLI's --env-vars files, read as `sam local` reads them, the same way for `make dev`,
`make invoke` and `make sam-invoke` (devstack/envvars.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack import envvars
from devstack.stack import LocalStack
from devstack.template import load as load_template
from scripts.sam_local.stack import ContainerView

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def template():
    return load_template(ROOT / "template.yaml")


def test_values_become_strings_as_sam_cli_makes_them() -> None:
    # samcli/local/lambdafn/env_vars.py _stringify_value
    assert [envvars.stringify(v) for v in (None, {"Ref": "X"}, [1], True, False, 5, 0.5, "x")] == [
        "",
        "",
        "",
        "true",
        "false",
        "5",
        "0.5",
        "x",
    ]


def test_parameters_then_the_functions_own_section_by_logical_id_else_by_name(template) -> None:
    posts = template.function("PostsFunction")
    by_name = {"Parameters": {"LOG": "DEBUG", "A": 1}, posts.function_name: {"LOG": "WARNING"}}
    assert envvars.overrides_for(by_name, posts) == {"LOG": "WARNING", "A": "1"}
    both = {**by_name, "PostsFunction": {"LOG": "ERROR"}}  # the logical id is found first
    assert envvars.overrides_for(both, posts) == {"LOG": "ERROR", "A": "1"}
    assert envvars.overrides_for(None, posts) == {}


@pytest.mark.parametrize("text", ['{"PostsFunction": "DEBUG"}', "[1]", "{", '{"Parameters": null}'])
def test_a_file_that_is_not_an_env_vars_file_is_refused_with_a_reason(tmp_path: Path, text: str) -> None:
    path = tmp_path / "env.json"
    path.write_text(text)
    with pytest.raises(envvars.EnvVarsError, match="env-vars"):
        envvars.load(path)


def test_make_invoke_and_sam_invoke_give_each_function_the_same_overrides(template, tmp_path: Path) -> None:
    """One reader for both paths: the same file sets the same values in the source tree's run and
    in the container's."""
    posts = template.function("PostsFunction")
    overrides = {
        "Parameters": {"POWERTOOLS_LOG_LEVEL": "DEBUG", "POWERTOOLS_METRICS_NAMESPACE": None, "UNDECLARED": "x"},
        posts.function_name: {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_LOGGER_LOG_EVENT": True},
    }
    stack = LocalStack(local_dir=tmp_path)
    stack.passwords = {"blog_owner": "o", "blog_app": "a", "blog_readonly": "r"}
    stack.cluster.port, stack.moto_url = 54999, "http://127.0.0.1:45999"

    class Values(ContainerView):
        def __init__(self) -> None:  # the container's values without starting anything
            pass

        def env_vars(self, template):  # type: ignore[no-untyped-def]
            return {fn.name: {} for fn in template.functions.values()}

    written = json.loads(Values().write_env_vars(template, tmp_path / "sam-env.json", overrides).read_text())
    for fn in template.functions.values():
        local = stack.function_environment(template, fn, overrides)
        for key, value in written[fn.name].items():
            assert local[key] == value, (fn.name, key)
    assert written["PostsFunction"]["POWERTOOLS_LOG_LEVEL"] == "WARNING"
    assert written["PostsFunction"]["POWERTOOLS_LOGGER_LOG_EVENT"] == "true"
    assert written["UsersFunction"]["POWERTOOLS_METRICS_NAMESPACE"] == ""
    assert all("UNDECLARED" not in v for v in written.values())
