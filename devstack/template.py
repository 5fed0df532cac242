"""template.yaml as the local stack needs it: functions and HTTP API routes.

The template is read with a YAML loader that understands CloudFormation's short
intrinsic tags (!Ref, !Sub, !GetAtt, !If, ...), and resolved the way SAM and
CloudFormation would for one local "deployment": parameters take their
defaults (or the given overrides), conditions are evaluated, pseudo parameters
get fixed local values, and Globals are merged into every function as SAM does
(Environment.Variables merged key by key, Layers prepended, the rest
overridden by the function). What cannot exist locally (the RDS Proxy
endpoint, secret ARNs) resolves to a placeholder that the local stack then
replaces (devstack.stack.function_environment).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

STACK_NAME = "blog-local"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
PSEUDO = {
    "AWS::StackName": STACK_NAME,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT_ID,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
    "AWS::NotificationARNs": [],
}
NO_VALUE = object()  # !Ref AWS::NoValue: the key disappears


class TemplateError(ValueError):
    """The template cannot be used locally (missing, malformed, or an unsupported shape)."""


# -- loading ---------------------------------------------------------------------------
class _CfnLoader(yaml.SafeLoader):
    """SafeLoader plus CloudFormation's short tags, each mapped to its long form."""


def _construct_tag(loader: _CfnLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::" + tag_suffix: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    except FileNotFoundError:
        raise TemplateError(f"{path} does not exist") from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
        raise TemplateError(f"{path} has no Resources section")
    return data


# -- resolution ------------------------------------------------------------------------
class Resolver:
    """Evaluates intrinsic functions against parameter values and local pseudo parameters."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, Any] | None = None):
        self.template = template
        self.resources: dict[str, Any] = template.get("Resources") or {}
        self.params: dict[str, Any] = {}
        for name, spec in (template.get("Parameters") or {}).items():
            default = (spec or {}).get("Default", "")
            if (spec or {}).get("Type") == "CommaDelimitedList" and isinstance(default, str):
                default = [p.strip() for p in default.split(",")] if default else []
            self.params[name] = default
        for name, value in (parameters or {}).items():
            spec = (template.get("Parameters") or {}).get(name) or {}
            if spec.get("Type") == "CommaDelimitedList" and isinstance(value, str):
                value = [p.strip() for p in value.split(",")]
            self.params[name] = value
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            spec = (self.template.get("Conditions") or {}).get(name)
            if spec is None:
                raise TemplateError(f"unknown condition {name}")
            self._conditions[name] = bool(self._condition_value(spec))
        return self._conditions[name]

    def _condition_value(self, spec: Any) -> Any:
        if isinstance(spec, dict) and len(spec) == 1:
            ((key, arg),) = spec.items()
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self._condition_value(arg[0])
            if key == "Fn::And":
                return all(self._condition_value(x) for x in arg)
            if key == "Fn::Or":
                return any(self._condition_value(x) for x in arg)
        return self.resolve(spec)

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.params:
            return self.params[name]
        if name in self.resources:
            return {"LocalRef": name}  # a resource of the cloud stack: a placeholder
        raise TemplateError(f"!Ref to unknown name {name}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            out = [self.resolve(v) for v in value]
            return [v for v in out if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return {"LocalGetAtt": [str(parts[0]), ".".join(str(p) for p in parts[1:])]}
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                sep, items = arg
                parts = self.resolve(items)
                return sep.join(_text(p) for p in parts)
            if key == "Fn::Select":
                index, items = arg
                items = self.resolve(items)
                return items[int(self.resolve(index))] if isinstance(items, list) else {"LocalSelect": items}
            if key == "Fn::Split":
                sep, text = arg
                text = self.resolve(text)
                return text.split(sep) if isinstance(text, str) else {"LocalSplit": text}
            if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
                return self._condition_value(value)
            if key in ("Fn::ImportValue", "Fn::FindInMap", "Fn::Base64", "Fn::GetAZs", "Fn::Cidr", "Fn::ToJsonString"):
                return {"Local" + key.removeprefix("Fn::"): arg}
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, extra = arg[0], {k: self.resolve(v) for k, v in (arg[1] or {}).items()}
        else:
            text, extra = arg, {}

        def repl(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return _text(extra[name])
            if "." in name and name.split(".", 1)[0] in self.resources:
                resource, attribute = name.split(".", 1)
                return _text({"LocalGetAtt": [resource, attribute]})
            return _text(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", repl, text)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        if "LocalRef" in value:
            return "local-" + value["LocalRef"]
        if "LocalGetAtt" in value:
            return "local-" + ".".join(value["LocalGetAtt"])
        return "local-value"
    if isinstance(value, list):
        return ",".join(_text(v) for v in value)
    return str(value)


def placeholder_text(value: Any) -> str:
    """A resolved value as an environment string (placeholders made readable)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _text(value)


# -- the model -------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    method: str  # upper case, or ANY
    path: str  # /posts/{post_id}
    function: str  # logical id
    authorizer: str | None  # None: public route
    scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"


@dataclass
class Function:
    name: str  # logical id, e.g. PostsFunction
    handler: str  # module.attribute
    code_uri: Path
    runtime: str
    timeout: int
    memory: int
    function_name: str  # the deployed name, for the Lambda context
    environment: dict[str, Any]  # resolved values (strings, or placeholders for cloud resources)
    layers: list[Any]
    events: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def http_routes(self) -> list[dict[str, Any]]:
        return [e for e in self.events.values() if e.get("Type") == "HttpApi"]


@dataclass
class Authorizer:
    name: str
    kind: str  # "jwt" (the only kind the local stack verifies)
    identity_source: str
    issuer: Any
    audience: Any


@dataclass
class Cors:
    allow_origins: list[str]
    allow_methods: list[str]
    allow_headers: list[str]
    expose_headers: list[str]
    allow_credentials: bool
    max_age: int | None


@dataclass
class Template:
    path: Path
    root: Path
    resolver: Resolver
    functions: dict[str, Function]
    routes: list[Route]
    authorizers: dict[str, Authorizer]
    cors: Cors | None

    def function(self, name: str) -> Function:
        """A function by logical id (case-insensitive) or by its code directory name (posts)."""
        for fn in self.functions.values():
            if name.lower() in (fn.name.lower(), fn.code_uri.name.lower()):
                return fn
        raise TemplateError(f"no function {name!r} in {self.path.name}; known: {', '.join(sorted(self.functions))}")


def _merge_globals(globals_fn: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """SAM's Globals rules: maps merge, Layers (lists) are prepended, scalars are overridden."""
    merged = copy.deepcopy(globals_fn)
    for key, value in props.items():
        if key == "Environment" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            variables = dict((merged[key] or {}).get("Variables") or {})
            variables.update((value or {}).get("Variables") or {})
            merged[key] = {**merged[key], **value, "Variables": variables}
        elif isinstance(value, list) and isinstance(merged.get(key), list) and key != "Architectures":
            merged[key] = merged[key] + value
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def load(path: Path, parameters: dict[str, Any] | None = None) -> Template:
    data = load_yaml(path)
    root = path.resolve().parent
    resolver = Resolver(data, parameters)
    globals_ = data.get("Globals") or {}
    functions: dict[str, Function] = {}
    for name, resource in data["Resources"].items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::Function":
            continue
        if "Condition" in resource and not resolver.condition(resource["Condition"]):
            continue
        props = _merge_globals(globals_.get("Function") or {}, resource.get("Properties") or {})
        handler = props.get("Handler")
        code_uri = props.get("CodeUri")
        if not isinstance(handler, str) or not isinstance(code_uri, str):
            raise TemplateError(f"{name}: a local function needs a Handler and a local CodeUri")
        env = resolver.resolve(((props.get("Environment") or {}).get("Variables")) or {})
        function_name = resolver.resolve(props.get("FunctionName", name))
        functions[name] = Function(
            name=name,
            handler=handler,
            code_uri=(root / code_uri).resolve(),
            runtime=str(resolver.resolve(props.get("Runtime", "python3.13"))),
            timeout=int(resolver.resolve(props.get("Timeout", 3))),
            memory=int(resolver.resolve(props.get("MemorySize", 128))),
            function_name=function_name if isinstance(function_name, str) else name,
            environment=env,
            layers=resolver.resolve(props.get("Layers") or []),
            events=resolver.resolve(props.get("Events") or {}),
        )
    apis = {
        name: _merge_globals(globals_.get("HttpApi") or {}, r.get("Properties") or {})
        for name, r in data["Resources"].items()
        if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::HttpApi"
    }
    implicit = resolver.resolve(globals_.get("HttpApi") or {})
    authorizers: dict[str, Authorizer] = {}
    cors: Cors | None = None
    for api in [*apis.values(), implicit]:
        auth = resolver.resolve(api.get("Auth") or {})
        for aname, spec in (auth.get("Authorizers") or {}).items():
            jwt = spec.get("JwtConfiguration")
            if jwt is None:
                continue  # Lambda/IAM authorizers are not emulated
            authorizers[aname] = Authorizer(
                name=aname,
                kind="jwt",
                identity_source=str(spec.get("IdentitySource", "$request.header.Authorization")),
                issuer=jwt.get("issuer"),
                audience=jwt.get("audience"),
            )
        if cors is None and api.get("CorsConfiguration"):
            cors = _cors(resolver.resolve(api["CorsConfiguration"]))
    routes: list[Route] = []
    for fn in functions.values():
        for ename, event in fn.events.items():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties") or {}
            api_ref = props.get("ApiId")
            api_name = api_ref.get("LocalRef") if isinstance(api_ref, dict) else None
            api = resolver.resolve(apis.get(api_name or "", implicit))
            default_auth = (api.get("Auth") or {}).get("DefaultAuthorizer")
            auth = props.get("Auth") or {}
            chosen = auth.get("Authorizer", default_auth)
            if chosen in (None, "NONE"):
                chosen = None
            elif chosen not in authorizers:
                raise TemplateError(f"{fn.name}.{ename}: authorizer {chosen!r} is not a JWT authorizer of the API")
            method = str(props.get("Method", "ANY")).upper()
            if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
                method = "ANY"
            path_ = str(props.get("Path", "$default"))
            routes.append(Route(method, path_, fn.name, chosen, tuple(auth.get("AuthorizationScopes") or ())))
    _check_duplicates(routes)
    return Template(path, root, resolver, functions, routes, authorizers, cors)


def _cors(spec: dict[str, Any]) -> Cors:
    def lst(key: str) -> list[str]:
        value = spec.get(key) or []
        return [str(v) for v in (value if isinstance(value, list) else [value])]

    max_age = spec.get("MaxAge")
    return Cors(
        allow_origins=lst("AllowOrigins"),
        allow_methods=[m.upper() for m in lst("AllowMethods")],
        allow_headers=[h.lower() for h in lst("AllowHeaders")],
        expose_headers=[h.lower() for h in lst("ExposeHeaders")],
        allow_credentials=bool(spec.get("AllowCredentials")),
        max_age=int(max_age) if max_age is not None else None,
    )


def _check_duplicates(routes: list[Route]) -> None:
    seen: dict[str, str] = {}
    for r in routes:
        if r.route_key in seen:
            raise TemplateError(f"route {r.route_key} is declared by {seen[r.route_key]} and {r.function}")
        seen[r.route_key] = r.function
