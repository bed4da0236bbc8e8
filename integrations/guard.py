"""The pre-call guard: check an outgoing history against the deployment it is going to, locally
with the pure core (never waiting on the inspector), and by configuration

    report   log the findings and send the call as it is;
    repair   repair the history first (the edits are logged and returned), then send it;
    refuse   raise GuardRefused with the provider's predicted error instead of spending the call.

SDK:    data = guard_request({"model": m, "messages": msgs, "tools": tools}, model=m, mode="repair").data
        litellm.completion(**data)
Proxy:  config.yaml `litellm_settings: {callbacks: custom_callbacks.guard}` with, in
        custom_callbacks.py, `guard = InspectorGuard(mode="repair")`.

A history the core cannot read is let through unchanged (logged): the guard never blocks a call
on its own failure.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import litellm  # noqa: E402
from litellm.integrations.custom_logger import CustomLogger  # noqa: E402

from conversations.history.check import check  # noqa: E402
from conversations.history.edits import Edit  # noqa: E402
from conversations.history.findings import Verdict  # noqa: E402
from conversations.history.formats import openai  # noqa: E402
from conversations.history.model import History  # noqa: E402
from conversations.history.repair import repair  # noqa: E402
from conversations.history.routes import RouteError, deployment_target, route_deployments  # noqa: E402
from conversations.history.targets import Target, resolve, target_for_model  # noqa: E402
from integrations import config  # noqa: E402

litellm.suppress_debug_info = True
log = logging.getLogger("integrations.inspector")

MODES = ("report", "repair", "refuse")
# Proxy call types that carry a chat history.
CHAT_CALL_TYPES = ("completion", "acompletion")


class GuardRefused(Exception):
    """The guard refused a call the provider would reject. `message` is the provider's predicted
    error; `status_code` makes the litellm proxy answer 400 with it."""

    status_code = 400

    def __init__(self, result: GuardResult):
        self.result = result
        self.message = refusal_text(result)
        super().__init__(self.message)


@dataclass
class GuardResult:
    """What the guard found and did. `data` is the request to send (repaired in repair mode);
    `before`/`after` the verdicts per target; `edits` the repair's, empty when nothing changed."""

    mode: str
    data: dict[str, Any]
    before: list[Verdict] = field(default_factory=list)
    after: list[Verdict] = field(default_factory=list)
    edits: list[Edit] = field(default_factory=list)
    skipped: str | None = None  # why the history was not checked (unreadable...)

    @property
    def accepted(self) -> bool:
        """Whether the request as it will be sent is predicted to be accepted."""
        return all(v.accepted for v in self.after)

    @property
    def repaired(self) -> bool:
        return bool(self.edits)

    @property
    def provider_error(self) -> str | None:
        """The first predicted provider error of the request as it came in."""
        return next((f.provider_error or f.explanation for v in self.before for f in v.errors), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "accepted": self.accepted,
            "repaired": self.repaired,
            "skipped": self.skipped,
            "before": [v.to_dict() for v in self.before],
            "after": [v.to_dict() for v in self.after],
            "edits": [e.to_dict() for e in self.edits],
        }


def guard_request(
    data: dict[str, Any],
    *,
    target: str | Target | Sequence[str | Target] | None = None,
    model: str | Sequence[str] | None = None,
    router: Any = None,
    mode: str = "report",
    include_warnings: bool = False,
) -> GuardResult:
    """Check (and by `mode` repair or refuse) a litellm call's request: `data` holds its `messages`,
    `tools` and the rest of the call's keyword arguments. It is checked against `target` (a target
    name or Target, or several); else the deployment model(s) in `model`; else, with a litellm
    `router`, every deployment the model group data["model"] can reach (fallbacks included); else
    data["model"] itself. Raises GuardRefused in refuse mode when a target would reject it."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r}: expected one of {', '.join(MODES)}")
    try:
        result = _judged(data, target, model, router, mode, include_warnings)
    except Exception as exc:  # the guard's own failure never blocks (or breaks) the call
        log.warning(
            "Conversation Inspector guard: not checked (%s: %s); the call goes out unchanged",
            exc.__class__.__name__,
            exc,
        )
        return GuardResult(mode, data, skipped=f"{exc.__class__.__name__}: {exc}")
    if mode == "refuse" and not result.accepted:
        raise GuardRefused(result)
    return result


def _judged(
    data: dict[str, Any], target: Any, model: Any, router: Any, mode: str, include_warnings: bool
) -> GuardResult:
    history = history_of(data)
    route = router_route(router, data.get("model")) if target is None and model is None else None
    targets = route_targets(route) if route else targets_of(target, model, data.get("model"))
    # litellm is imported here already: judge the body its own transformation builds.
    before = [check(history, target=t, build_request=True, next_turn=False) for t in targets]
    result = GuardResult(mode, data, before=before, after=before)
    if all(_clean(v, include_warnings) for v in before):
        return result
    if mode == "repair":
        return _repaired(result, history, targets, route, include_warnings)
    _report(result)
    return result


def _clean(verdict: Verdict, include_warnings: bool) -> bool:
    if include_warnings:
        return not any(f.severity in ("error", "warning") for f in verdict.findings)
    return verdict.accepted


def _repaired(
    result: GuardResult,
    history: History,
    targets: list[Target],
    route: tuple[dict[str, Any], str] | None,
    include_warnings: bool,
) -> GuardResult:
    """Repair for every deployment of the route at once, or for each given target in turn."""
    edits: list[Edit] = []
    if route is not None:
        outcome = repair(history, route=route, include_warnings=include_warnings, build_request=True)
        history, edits, result.after = outcome.history, list(outcome.edits), outcome.after
    else:
        for t in targets:
            outcome = repair(history, target=t, include_warnings=include_warnings, build_request=True)
            history = outcome.history
            edits.extend(outcome.edits)
        result.after = [check(history, target=t, build_request=True, next_turn=False) for t in targets]
    result.edits = edits
    if edits:
        result.data = request_with(result.data, history)
        log.warning(
            "Conversation Inspector guard repaired the request to %s: %s%s",
            ", ".join(v.target for v in result.before),
            "; ".join(e.description for e in edits),
            "" if result.accepted else " (still predicted to fail: " + (result_error(result) or "") + ")",
        )
    return result


def _report(result: GuardResult) -> None:
    for verdict in result.before:
        for finding in verdict.findings:
            if finding.severity != "info":
                log.warning(
                    "Conversation Inspector guard: %s would %s: %s [%s at message %s]",
                    verdict.target,
                    "reject the request" if finding.severity == "error" else "warn",
                    finding.provider_error or finding.explanation,
                    finding.rule,
                    finding.message_index,
                )


def result_error(result: GuardResult) -> str | None:
    return next((f.provider_error or f.explanation for v in result.after for f in v.errors), None)


def refusal_text(result: GuardResult) -> str:
    first = next((v, f) for v in result.before for f in v.errors)
    verdict, finding = first
    return (
        f"{finding.provider_error or finding.explanation} (predicted by Conversation Inspector for "
        f"{verdict.target}: rule {finding.rule}; the call was not sent)"
    )


# --- reading the request ------------------------------------------------------------------------


def history_of(data: dict[str, Any]) -> History:
    """The canonical history of a call's keyword arguments (an OpenAI Chat Completions request)."""
    request = {
        k: v
        for k, v in data.items()
        if k in ("model", "messages", "tools", "tool_choice", "max_tokens", "thinking", "reasoning_effort", "functions")
    }
    return openai.parse_request(request, file="request")


def request_with(data: dict[str, Any], history: History) -> dict[str, Any]:
    """`data` with the repaired history's messages (and tools, where the repair changed them);
    every other key of the call (metadata, api_base, keys...) kept."""
    rebuilt = openai.to_request(history)
    out = dict(data)
    out["messages"] = rebuilt["messages"]
    if "tools" in rebuilt or "tools" in data:
        out["tools"] = rebuilt.get("tools") or data.get("tools")
    return out


def targets_of(target: Any, model: Any, fallback_model: str | None) -> list[Target]:
    if target:
        return [t if isinstance(t, Target) else resolve(t) for t in _many(target)]
    models = _many(model) if model is not None else [fallback_model]
    return _unique(target_for_model(m) for m in models)


def router_route(router: Any, group: str | None) -> tuple[dict[str, Any], str] | None:
    """(config, group) for routes.py when `router` has the model group, else None (an unknown
    group or alias: litellm answers that call itself, and the guard judges data["model"])."""
    if router is None or not group:
        return None
    config = router_config(router)
    try:
        route_deployments(config, group)
    except RouteError:
        return None
    return config, group


def route_targets(route: tuple[dict[str, Any], str]) -> list[Target]:
    """A target per deployment a call to the group can reach, in the order they are tried."""
    config, group = route
    return [deployment_target(d) for d in route_deployments(config, group)]


def router_config(router: Any) -> dict[str, Any]:
    """The Router's deployments and fallbacks in the shape of a proxy config (routes.load_config)."""
    registry = getattr(router, "registry", None)
    model_list = list(registry().all()) if callable(registry) else list(router.model_list)
    settings = router.settings() if callable(getattr(router, "settings", None)) else router
    return {
        "model_list": model_list,
        "router_settings": {
            "fallbacks": list(getattr(settings, "fallbacks", None) or []),
            "default_fallbacks": getattr(settings, "default_fallbacks", None),
        },
    }


def _many(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _unique(targets: Iterable[Target]) -> list[Target]:
    seen: dict[tuple[str, str], Target] = {}
    for t in targets:
        seen.setdefault((t.name, t.model), t)
    return list(seen.values())


# --- the proxy hook -----------------------------------------------------------------------------


class InspectorGuard(CustomLogger):  # type: ignore[misc]  # litellm is untyped
    """A litellm proxy pre-call hook running guard_request on each chat call. The targets are the
    deployments of the call's model group (from `router`, by default the proxy's own router), or
    `target` when given. mode defaults to INSPECTOR_GUARD_MODE, else report."""

    def __init__(
        self,
        mode: str | None = None,
        *,
        target: str | Sequence[str] | None = None,
        include_warnings: bool = False,
        router: Any = None,
        **kwargs: Any,
    ):
        """router: the litellm Router whose deployments the calls go to (default: the proxy's)."""
        super().__init__(**kwargs)
        self.mode = mode or config.guard_mode()
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r}: expected one of {', '.join(MODES)}")
        self.target = target
        self.include_warnings = include_warnings
        self.router = router
        self.last: GuardResult | None = None

    # The proxy looks this method up on the class itself (vars(cls)): keep it defined here.
    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: Any, call_type: str) -> Any:
        if call_type not in CHAT_CALL_TYPES or not isinstance(data, dict) or not data.get("messages"):
            return data
        router = None if self.target else (self.router or _proxy_router())
        loop = asyncio.get_running_loop()
        # Building the provider request takes milliseconds to a few hundred for long histories:
        # off the event loop, so other requests are not held up.
        self.last = await loop.run_in_executor(
            None,
            lambda: guard_request(
                data, target=self.target, router=router, mode=self.mode, include_warnings=self.include_warnings
            ),
        )
        return self.last.data


def _proxy_router() -> Any:  # the proxy's litellm Router, or None
    try:
        from litellm.proxy.proxy_server import llm_router
    except Exception:  # not running inside the proxy (or its extras are not installed)
        return None
    return llm_router
