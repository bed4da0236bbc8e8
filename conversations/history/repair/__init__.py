"""Repairs: for each fix code of findings.FIXES a pure strategy that makes a history acceptable
to a target (or to every deployment of a route), changing as little as possible and losing
nothing that the earlier revision does not keep.

    from conversations.history.repair import repair
    result = repair(history, target="anthropic")      # or route=(config, model_group)
    result.history        # a repaired copy (the input is never changed)
    result.edits          # [Edit(op, message_index, description)], readable by a person
    result.before, result.after   # verdicts

One module per family of strategies; registry.py maps codes to strategies and fixes the order a
round applies them in; engine.py runs the check -> repair -> check loop.
"""

from ..edits import Edit
from . import branches, cache, content, pairing, request, resume, roles, thinking  # noqa: F401  (registers strategies)
from .engine import MAX_ROUNDS, Plan, RepairError, RepairResult, Step, judge_for, plan, repair
from .registry import NOT_AUTOMATIC, ORDER, STRATEGIES

__all__ = [
    "repair",
    "judge_for",
    "plan",
    "Plan",
    "Step",
    "RepairResult",
    "RepairError",
    "Edit",
    "STRATEGIES",
    "ORDER",
    "NOT_AUTOMATIC",
    "MAX_ROUNDS",
]
