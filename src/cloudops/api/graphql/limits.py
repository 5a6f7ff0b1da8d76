"""Query depth and cost limits, checked when a document is validated (before anything runs).

Cost: every field costs 1, times the number of times it can appear: the fields under a field
with ``first: N`` count N times (a ``first`` given as a variable counts as the largest page,
1000); a field without ``first`` counts once (a paged field left at its default page of 50
is undercounted: the depth limit bounds what that can add).
Depth: the longest chain of nested selections (fragments followed).
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import AddValidationRules, QueryDepthLimiter

__all__ = ["limits", "query_cost"]

_VARIABLE_PAGE = 1000
_PAGED_FIELDS = ("first",)


def _multiplier(node: FieldNode) -> int:
    for arg in node.arguments or ():
        if arg.name.value in _PAGED_FIELDS:
            return int(arg.value.value) if isinstance(arg.value, IntValueNode) else _VARIABLE_PAGE
    return 1


def query_cost(
    selection: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode], seen: frozenset[str] = frozenset()
) -> int:
    """The cost of a selection set (see the module docstring)."""
    if selection is None:
        return 0
    total = 0
    for node in selection.selections:
        if isinstance(node, FieldNode):
            if node.name.value.startswith("__"):
                continue
            total += 1 + _multiplier(node) * query_cost(node.selection_set, fragments, seen)
        elif isinstance(node, InlineFragmentNode):
            total += query_cost(node.selection_set, fragments, seen)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name in seen or name not in fragments:
                continue
            total += query_cost(fragments[name].selection_set, fragments, seen | {name})
    return total


def _cost_rule(max_cost: int) -> type[ValidationRule]:
    class CostLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
            ctx: ValidationContext = self.context
            fragments = {f.name.value: f for f in ctx.document.definitions if isinstance(f, FragmentDefinitionNode)}
            cost = query_cost(node.selection_set, fragments)
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"query cost {cost} exceeds the limit of {max_cost}: ask for fewer fields or smaller pages",
                        node,
                        extensions={"code": "QUERY_TOO_COSTLY", "cost": cost, "max_cost": max_cost},
                    )
                )

    return CostLimit


def limits(max_depth: int, max_cost: int) -> list[Any]:
    """The schema extensions enforcing both limits."""
    return [QueryDepthLimiter(max_depth=max_depth), AddValidationRules([_cost_rule(max_cost)])]
