"""Every route has one caching decision (shared/caching.py), and it follows the rule:
public (no authorizer) reads are cacheable with max-age + stale-while-revalidate and an
ETag, answering If-None-Match with 304; private routes are `private, no-store`.

The README's route table is generated from the same rules and checked here."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared import caching
from tests.unit.test_template import PUBLIC, http_routes, resources, template  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
NOT_CACHED_PUBLIC_READS = {"GET /health"}  # a health check that a cache answers proves nothing


def route_table(routes: list[tuple[str, str]]) -> str:
    """The README's route table: route, access, statuses (openapi.json), Cache-Control of a 2xx, reason."""
    doc = json.loads((ROOT / "openapi.json").read_text())
    lines = ["| route | access | answers | Cache-Control (2xx) | why |", "|---|---|---|---|---|"]
    for key, _function in sorted(routes, key=lambda r: (r[0].split(" ", 1)[1], r[0])):
        method, path = key.split(" ", 1)
        answers = " ".join(sorted(doc["paths"][path][method.lower()]["responses"]))
        rule = caching.RULES[key]
        access = "public" if rule.public else "token"
        lines.append(f"| `{key}` | {access} | {answers} | `{rule.header()}` | {rule.why} |")
    return "\n".join(lines)


def template_routes(resources: dict[str, Any]) -> dict[str, tuple[str, bool]]:  # noqa: F811
    return {
        f"{method} {path}": (function, props.get("Auth", {}).get("Authorizer") == PUBLIC)
        for function, method, path, props in http_routes(resources)
    }


def test_every_route_has_a_caching_decision(resources: dict[str, Any]) -> None:  # noqa: F811
    routes = template_routes(resources)
    missing = sorted(set(routes) - set(caching.RULES))
    assert not missing, f"routes without a caching decision in shared/caching.py RULES: {missing}"
    assert not sorted(set(caching.RULES) - set(routes)), "rules for routes the template does not have"


def test_public_means_no_authorizer_and_cacheable_reads(resources: dict[str, Any]) -> None:  # noqa: F811
    for key, (_function, public) in template_routes(resources).items():
        rule = caching.RULES[key]
        assert rule.public == public, key
        if not public:
            assert rule.header() == "private, no-store", key
        elif key.startswith("GET ") and key not in NOT_CACHED_PUBLIC_READS:
            assert rule.max_age > 0 and rule.stale_while_revalidate > 0 and rule.why, key
            assert re.fullmatch(r"public, max-age=\d+, stale-while-revalidate=\d+", rule.header()), key
        else:
            assert rule.header() == "no-store", key


def test_readme_route_table_is_generated_from_the_rules(resources: dict[str, Any]) -> None:  # noqa: F811
    table = route_table([(k, f) for k, (f, _p) in template_routes(resources).items()])
    readme = (ROOT / "README.md").read_text()
    assert table in readme, "README.md's route table is stale; replace it with:\n\n" + table


def event(route_key: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    method = route_key.split(" ", 1)[0]
    return {"routeKey": route_key, "headers": headers or {}, "requestContext": {"http": {"method": method}}}


def result(status: int = 200, body: str = '{"a":1}', headers: dict[str, str] | None = None) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "application/json", **(headers or {})}, "body": body}


def test_public_read_gets_cache_control_and_a_body_etag() -> None:
    out = caching.apply(event("GET /posts"), result())
    assert out["headers"]["Cache-Control"] == "public, max-age=30, stale-while-revalidate=60"
    assert out["headers"]["ETag"] == caching.body_etag('{"a":1}')


@pytest.mark.parametrize("header", ['"{tag}"', 'W/"{tag}"', '"x", "{tag}"', "*"])
def test_if_none_match_answers_304_without_a_body(header: str) -> None:
    tag = caching.body_etag('{"a":1}').strip('"')
    out = caching.apply(event("GET /posts", {"if-none-match": header.format(tag=tag)}), result())
    assert out["statusCode"] == 304 and out["body"] == ""
    assert "Content-Type" not in out["headers"] and out["headers"]["ETag"] == f'"{tag}"'
    assert out["headers"]["Cache-Control"].startswith("public, max-age=")


def test_a_handler_etag_is_kept_and_compared() -> None:
    out = caching.apply(event("GET /posts/{post_id}", {"if-none-match": '"7"'}), result(headers={"ETag": '"7"'}))
    assert out["statusCode"] == 304
    out = caching.apply(event("GET /posts/{post_id}", {"if-none-match": '"6"'}), result(headers={"ETag": '"7"'}))
    assert out["statusCode"] == 200 and json.loads(out["body"]) == {"a": 1}


def test_errors_and_private_answers_are_never_stored() -> None:
    assert caching.apply(event("GET /posts/{post_id}"), result(404))["headers"]["Cache-Control"] == "no-store"
    assert "ETag" not in caching.apply(event("GET /posts/{post_id}"), result(404))["headers"]
    for status in (200, 201, 404):
        out = caching.apply(event("GET /me"), result(status, headers={"Cache-Control": "max-age=9"}))
        assert out["headers"]["Cache-Control"] == "private, no-store"
    assert caching.apply(event("GET /unknown"), result())["headers"]["Cache-Control"] == "private, no-store"


# -- the CloudFront distribution (EnableCdn) ---------------------------------------------
def _behavior_for(distribution: dict[str, Any], path: str) -> dict[str, Any]:
    """CloudFront's choice: the first cache behavior whose path pattern matches, else the default."""
    import fnmatch

    config = distribution["Properties"]["DistributionConfig"]
    for behavior in config["CacheBehaviors"]:
        if fnmatch.fnmatchcase(path, behavior["PathPattern"]):
            return behavior
    return config["DefaultCacheBehavior"]


def test_cdn_caches_public_reads_only_and_forwards_authorization(resources: dict[str, Any]) -> None:  # noqa: F811
    cdn = resources["CdnDistribution"]
    assert cdn["Condition"] == "UseCdn"
    policy = resources["CdnPublicReadsCachePolicy"]["Properties"]["CachePolicyConfig"]
    keys = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert keys["QueryStringsConfig"] == {"QueryStringBehavior": "all"}
    assert set(keys["HeadersConfig"]["Headers"]) == {"Authorization", "Origin"}
    assert policy["DefaultTTL"] == 0 and policy["MinTTL"] == 0
    assert policy["MaxTTL"] >= max(r.max_age for r in caching.RULES.values())
    cached = {"Ref": "CdnPublicReadsCachePolicy"}
    for key, (_function, _public) in template_routes(resources).items():
        method, path = key.split(" ", 1)
        sample = re.sub(r"\{\w+\}", "x", path)
        behavior = _behavior_for(cdn, sample)
        rule = caching.RULES[key]
        assert method in behavior["AllowedMethods"], key
        if method == "GET" and rule.cacheable:
            assert behavior["CachePolicyId"] == cached, key
        elif method == "GET":
            # private or uncacheable reads never meet the caching policy
            assert behavior["CachePolicyId"] != cached, key
        # every route reaches the API with every header it documents (Authorization, Idempotency-Key,
        # If-Match, If-None-Match): a cache policy alone forwards only its cache key's headers
        assert "OriginRequestPolicyId" in behavior, key
        # and with its ETags unchanged: CloudFront weakens a strong ETag when it compresses
        if method in ("GET", "PATCH", "DELETE") and path.startswith(("/posts", "/me", "/users")):
            assert behavior.get("Compress") is not True or behavior["CachePolicyId"] != cached, key


def rewrite_readme_table() -> None:
    """Replace the README's route table with the generated one (run as a module, see README)."""
    from cfnlint.decode import cfn_yaml

    resources_ = cfn_yaml.load(str(ROOT / "template.yaml"))["Resources"]
    table = route_table([(k, f) for k, (f, _p) in template_routes(resources_).items()])
    path = ROOT / "README.md"
    text = path.read_text()
    start = text.index("| route | access | answers |")
    end = text.index("\n\n", start)
    path.write_text(text[:start] + table + text[end:])


if __name__ == "__main__":
    rewrite_readme_table()


def test_public_reads_vary_on_origin() -> None:
    """CORS answers differ per Origin (API Gateway echoes an allowed one): a shared cache keeps a
    copy per Origin, or a browser on one origin may get another's answer."""
    event = {"routeKey": "GET /posts", "requestContext": {"http": {"method": "GET"}}, "headers": {}}
    result = caching.apply(event, {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": "{}"})
    assert result["headers"]["Vary"] == "Origin"
    result = caching.apply(event, {"statusCode": 200, "headers": {"Vary": "Accept-Encoding"}, "body": "{}"})
    assert result["headers"]["Vary"] == "Accept-Encoding, Origin"
