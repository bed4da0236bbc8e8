"""Routes: every deployment a call to a litellm model group could reach, judged one by one.

A litellm Router or proxy config (YAML, as litellm reads it) has `model_list` entries
{model_name: <group>, litellm_params: {model: <litellm model>, ...}, model_info: {...}} and
fallbacks as a list of {<group>: [<fallback group>, ...]} under `litellm_settings` or
`router_settings` (`default_fallbacks` applies to a group with no entry of its own). A call to a
group tries the group's deployments, then each fallback group's, in that order.

A deployment's model_info is passed to litellm as the Router passes it: it changes what is sent
(litellm 1.110.2 drops Converse cachePoints for `supports_prompt_caching: false`), and it
overrides the model map's capabilities for the check.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .check import check
from .errors import HistoryError
from .findings import Verdict
from .model import History
from .redact import redact
from .targets import Target, target_for_model

INFO_CAPABILITIES = {
    "supports_prompt_caching": "prompt_caching",
    "max_input_tokens": "context_window",
    "max_output_tokens": "max_output_tokens",
    "supports_reasoning": "thinking",
    "supports_assistant_prefill": "prefill",
}


class RouteError(HistoryError):
    """A config that is not a litellm Router/proxy config, or a group it does not have."""


@dataclass(frozen=True)
class Deployment:
    group: str
    model: str
    model_info: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.group} via {self.model}"


def load_config(source: str | Path | dict[str, Any]) -> dict[str, Any]:
    """A config from a dict, a Path, or YAML text. A str is always YAML text, never a file name:
    configs pasted into a page or an API call must not be able to name a file on the server."""
    if isinstance(source, dict):
        config = source
    else:
        import yaml

        text = Path(source).read_text(encoding="utf-8") if _is_path(source) else str(source)
        try:
            config = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RouteError(f"{source}: not YAML: {exc}") from None
    if not isinstance(config, dict) or not isinstance(config.get("model_list"), list):
        raise RouteError(
            f"{source if not isinstance(source, dict) else 'config'}: no model_list: not a litellm Router/proxy config"
        )
    return config


def _is_path(source: str | Path) -> bool:
    return isinstance(source, Path)


def deployments(config: dict[str, Any]) -> list[Deployment]:
    out = []
    for k, entry in enumerate(config["model_list"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("litellm_params"), dict):
            raise RouteError(f"model_list[{k}]: needs model_name and litellm_params")
        model = entry["litellm_params"].get("model")
        group = entry.get("model_name")
        if not isinstance(model, str) or not isinstance(group, str):
            raise RouteError(f"model_list[{k}]: needs model_name and litellm_params.model")
        info = entry.get("model_info") or {}
        if not isinstance(info, dict):
            raise RouteError(f"model_list[{k}].model_info: expected a mapping, got {type(info).__name__}")
        out.append(Deployment(group=group, model=model, model_info=dict(info)))
    return out


def _settings(config: dict[str, Any]) -> list[dict[str, Any]]:
    """router_settings and litellm_settings, each checked to be of the shape litellm reads."""
    found = []
    for name in ("router_settings", "litellm_settings"):
        where = config.get(name) or {}
        if not isinstance(where, dict):
            raise RouteError(f"{name}: expected a mapping, got {type(where).__name__}")
        fallbacks = where.get("fallbacks") or []
        if not isinstance(fallbacks, list) or not all(_fallback_entry(e) for e in fallbacks):
            raise RouteError(f"{name}.fallbacks: expected a list of {{group: [groups]}} mappings")
        default = where.get("default_fallbacks") or []
        if not isinstance(default, list) or not all(isinstance(g, str) for g in default):
            raise RouteError(f"{name}.default_fallbacks: expected a list of model group names")
        found.append(where)
    return found


def _fallback_entry(entry: Any) -> bool:
    return isinstance(entry, dict) and all(
        isinstance(v, str) or v is None or (isinstance(v, list) and all(isinstance(g, str) for g in v))
        for v in entry.values()
    )


def fallbacks_of(config: dict[str, Any], group: str) -> list[str]:
    settings = _settings(config)
    for where in settings:
        for entry in where.get("fallbacks") or []:
            if isinstance(entry, dict) and group in entry:
                value = entry[group]
                return [value] if isinstance(value, str) else list(value or [])
    for where in settings:
        if where.get("default_fallbacks"):
            return [g for g in where["default_fallbacks"] if g != group]
    return []


def route_deployments(config: dict[str, Any], model_group: str) -> list[Deployment]:
    """The group's deployments in the order listed, then each fallback group's, in fallback
    order (each deployment once)."""
    config = load_config(config)
    every = deployments(config)
    _settings(config)  # a malformed one is refused even when no fallback is needed
    groups = sorted({d.group for d in every})
    if model_group not in groups:
        raise RouteError(f"no model group {model_group!r} in the config; groups: {', '.join(groups)}")
    route: list[Deployment] = []
    for group in [model_group, *fallbacks_of(config, model_group)]:
        for deployment in every:
            if deployment.group == group and deployment not in route:
                route.append(deployment)
    return route


def deployment_target(deployment: Deployment, *, litellm_reads_model_info: bool = False) -> Target:
    """The target a deployment sends to, with its model_info's capabilities laid over the
    model map's. A provider litellm names but we have no profile for is judged as OpenAI
    (most of litellm's providers speak OpenAI's API). litellm_reads_model_info=False judges the
    request an older litellm sent, which ignored model_info (the seed's proxy, Feb 2025): the
    capabilities still apply, the body is built as if the deployment had none."""
    target = target_for_model(deployment.model, default="openai")
    overrides: dict[str, Any] = {
        ours: deployment.model_info[theirs]
        for theirs, ours in INFO_CAPABILITIES.items()
        if deployment.model_info.get(theirs) is not None
    }
    sent_info = deployment.model_info if litellm_reads_model_info else {}
    source = target.capability_source + (" + model_info" if overrides else "")
    return target.replace(
        label=deployment.label,
        model_info=sent_info or None,
        capability_source=source,
        litellm_drops_markers=litellm_reads_model_info,
        **overrides,
    )


def check_route(
    history: History,
    config: dict[str, Any] | str | Path,
    group: str,
    *,
    build_request: bool | None = None,
    litellm_reads_model_info: bool = False,
    sender: str | None = None,
) -> list[Verdict]:
    """One verdict per deployment a call to `group` could reach, in the order they are tried.

    By default a deployment's model_info describes the account (supports_prompt_caching: false =
    no explicit prompt caching) and the markers are judged as sent, as the seed's proxy sent them
    (Feb 2025). litellm 1.110.2 reads that flag and drops the markers itself:
    litellm_reads_model_info=True judges that newer behaviour (accepted, caching silently off).
    `sender`: the client in front of the proxy (senders.py; default the format's)."""
    return [
        check(
            history,
            target=deployment_target(d, litellm_reads_model_info=litellm_reads_model_info),
            build_request=build_request,
            sender=sender,
        )
        for d in route_deployments(load_config(config), group)
    ]


# --- a route kept for later: its config without credentials --------------------------------------

CREDENTIAL_KEYS = frozenset({"api_key", "aws_secret_access_key", "aws_session_token", "vertex_credentials"})
ENV_REFERENCE = "os.environ/"


def without_credentials(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A copy of the config without what grants access (the credential keys, every
    `os.environ/...` reference, every value the redactor would redact), and the paths removed.
    What is left still says which deployments a group reaches, which is all a check needs."""
    removed: list[str] = []

    def clean(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            kept = {}
            for key, inner in value.items():
                where = f"{path}.{key}" if path else str(key)
                if str(key).lower() in CREDENTIAL_KEYS or _secret_value(inner):
                    removed.append(where)
                    continue
                kept[key] = clean(inner, where)
            return kept
        if isinstance(value, list):
            out = []
            for k, inner in enumerate(value):
                if _secret_value(inner):
                    removed.append(f"{path}[{k}]")
                    continue
                out.append(clean(inner, f"{path}[{k}]"))
            return out
        return value

    return clean(config, ""), removed


def _secret_value(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    if value.startswith(ENV_REFERENCE):
        return True
    return bool(redact(value.encode("utf-8", "replace"), "")[1])


def groups_of(config: dict[str, Any]) -> set[str]:
    return {d.group for d in deployments(config)}


# --- which route a conversation's next request takes ---------------------------------------------

PROXY_PREFIX = "litellm_proxy/"


@dataclass(frozen=True, slots=True)
class RouteRule:
    """An admin's mapping: conversations of this source kind ("" any), whose location matches the
    glob ("" any) and whose model matches the regular expression ("" any) take this route."""

    route: str
    model_group: str
    source_kind: str = ""
    location_glob: str = ""
    model_regex: str = ""

    def matches(self, source_kind: str, location: str, model: str) -> bool:
        if self.source_kind and self.source_kind != source_kind:
            return False
        if self.location_glob and not fnmatch.fnmatchcase(location, self.location_glob):
            return False
        return not self.model_regex or re.search(self.model_regex, model) is not None


@dataclass(frozen=True, slots=True)
class RouteChoice:
    route: str
    model_group: str
    why: str  # in words: which of the ways below found it


def route_for(
    history: History,
    *,
    source_kind: str,
    location: str,
    rules: list[RouteRule],
    configs: dict[str, dict[str, Any]],
    default: tuple[str, str] | None = None,
) -> RouteChoice | None:
    """The route of a conversation, first found: an admin rule (first match wins); the model
    group a litellm payload names; a model named litellm_proxy/<group>; the default route for a
    conversation that names no model. None: judged by its own target. A group is looked up in
    the routes in order (`configs`: name -> config), the first that has it."""
    model = history.model or ""
    for rule in rules:
        if rule.route in configs and rule.matches(source_kind, location, model):
            return RouteChoice(rule.route, rule.model_group, "a mapping rule")
    logged_group = history.meta.get("model_group")
    if isinstance(logged_group, str) and logged_group:
        found = _route_with_group(configs, logged_group, "the model group the litellm log names")
        if found:
            return found
    if model.startswith(PROXY_PREFIX):
        found = _route_with_group(configs, model[len(PROXY_PREFIX) :], f"the model {model}")
        if found:
            return found
    if not model and default is not None and default[0] in configs:
        return RouteChoice(default[0], default[1], "the default route (the log names no model)")
    return None


def _route_with_group(configs: dict[str, dict[str, Any]], group: str, why: str) -> RouteChoice | None:
    for name, config in configs.items():
        try:
            if group in groups_of(config):
                return RouteChoice(name, group, why)
        except RouteError:
            continue
    return None
