"""The catalog's ``obs_query``: a small expression language over obs columns that cannot run code.

Parsed with :mod:`ast` and evaluated by walking an allow-list: obs column names, literals (strings,
numbers, booleans, None, and lists/tuples/sets of them), comparisons (``==``, ``!=``, ``<``, ``<=``,
``>``, ``>=``, ``in``, ``not in``, chains), ``column.isin([...])``, ``and``/``or``/``not`` and
parentheses. Anything else (calls, attributes, ``@`` variables, subscripts, arithmetic) is refused.
"""

import ast
import operator

import numpy as np
import pandas as pd

ALLOWED = (
    "comparisons (==, !=, <, <=, >, >=, in, not in) between obs columns and literals, "
    "column.isin([...]), and/or/not, parentheses"
)
COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


class QueryError(ValueError):
    """An ``obs_query`` outside the grammar, or naming a column obs does not have."""


def select(obs: pd.DataFrame, query: str) -> np.ndarray:
    """The boolean mask of the cells of ``obs`` that match ``query``."""
    try:
        tree = ast.parse(query.strip(), mode="eval")
    except SyntaxError as error:
        raise QueryError(f"not a valid expression ({error.msg}); allowed: {ALLOWED}") from error
    mask = _Evaluator(obs).boolean(tree.body)
    return pd.Series(mask, index=obs.index).fillna(False).to_numpy(dtype=bool)


class _Evaluator:
    def __init__(self, obs: pd.DataFrame) -> None:
        self.obs = obs

    def boolean(self, node: ast.expr) -> pd.Series:
        if isinstance(node, ast.BoolOp):
            combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
            result = self.boolean(node.values[0])
            for value in node.values[1:]:
                result = combine(result, self.boolean(value))
            return result
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ~self.boolean(node.operand)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Call):
            return self._isin(node)
        raise QueryError(f"{_show(node)!r} is not a condition; allowed: {ALLOWED}")

    def _compare(self, node: ast.Compare) -> pd.Series:
        operands = [node.left, *node.comparators]
        for operand in operands:
            if not isinstance(operand, ast.Name | ast.Constant | ast.UnaryOp | ast.List | ast.Tuple | ast.Set):
                raise QueryError(f"{_show(operand)!r} is neither an obs column nor a literal; allowed: {ALLOWED}")
        if not any(isinstance(o, ast.Name) for o in operands):
            raise QueryError(f"{_show(node)!r} compares no obs column")
        result = None
        for left, op, right in zip(operands[:-1], node.ops, operands[1:], strict=True):
            if isinstance(op, ast.In | ast.NotIn):
                part = self.column(left).isin(self.values(right))
                part = ~part if isinstance(op, ast.NotIn) else part
            elif type(op) in COMPARE:
                part = COMPARE[type(op)](self.operand(left), self.operand(right))
            else:
                raise QueryError(f"operator {type(op).__name__} in {_show(node)!r} is not allowed; allowed: {ALLOWED}")
            result = part if result is None else result & part
        return result

    def _isin(self, node: ast.Call) -> pd.Series:
        function = node.func
        if not (isinstance(function, ast.Attribute) and function.attr == "isin" and not node.keywords
                and len(node.args) == 1):  # fmt: skip
            raise QueryError(f"{_show(node)!r}: the only call allowed is column.isin([...]); allowed: {ALLOWED}")
        return self.column(function.value).isin(self.values(node.args[0]))

    def operand(self, node: ast.expr) -> pd.Series | object:
        return self.column(node) if isinstance(node, ast.Name) else self.literal(node)

    def column(self, node: ast.expr) -> pd.Series:
        if not isinstance(node, ast.Name):
            raise QueryError(f"{_show(node)!r} is not an obs column name; allowed: {ALLOWED}")
        if node.id not in self.obs:
            raise QueryError(f"obs has no column '{node.id}'; obs columns: {', '.join(map(str, self.obs.columns))}")
        return self.obs[node.id]

    def values(self, node: ast.expr) -> list:
        if not isinstance(node, ast.List | ast.Tuple | ast.Set):
            raise QueryError(f"{_show(node)!r} must be a list of literals, e.g. ['a', 'b']")
        return [self.literal(element) for element in node.elts]

    def literal(self, node: ast.expr) -> object:
        if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float | bool | type(None)):
            return node.value
        negative = isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
        if negative and isinstance(node.operand, ast.Constant) and type(node.operand.value) in (int, float):
            return -node.operand.value
        raise QueryError(f"{_show(node)!r} is not a literal (string, number, True/False/None); allowed: {ALLOWED}")


def _show(node: ast.AST) -> str:
    return ast.unparse(node)
