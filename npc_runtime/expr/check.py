"""The expression language's type checker (see :mod:`npc_runtime.expr`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from .syntax import Assign, Bin, Call, Effect, ListLit, Lit, Name, Node, Unary, parse_condition, parse_effect
from .types import BOOL, FLOAT, INT, STRING, ExprError, Type, num_type

# -- checking -----------------------------------------------------------------------------------


class Scope(Protocol):
    """What names and ids exist, for the type checker."""

    def name_type(self, name: str) -> tuple[str, Type] | None:
        """(kind, type) of a name, kind being var | quest | event | ext | self; None when unknown."""
        ...

    def suggest(self, name: str) -> str | None: ...

    def check_id(self, what: str, value: str) -> str | None:
        """None when ``value`` is a declared id of ``what`` (fact | npc | entity | relation)."""
        ...

    @property
    def npc_context(self) -> bool:
        """True when checking a persona condition (``knows(fact)`` refers to that NPC)."""
        ...


@dataclass
class Checked:
    """A checked expression: its type and what it reads (for the dependency index)."""

    node: Node
    type: Type
    reads: set[str] = field(default_factory=set)  # v:<var> q:<quest> r:<type> r:* k:<fact> x:<ext>


# function name -> (argument roles, result type); roles: fact npc entity relation
CONDITION_FUNCTIONS: dict[str, list[tuple[tuple[str, ...], Type]]] = {
    "knows": [(("fact",), BOOL), (("npc", "fact"), BOOL)],
    "rel": [(("entity", "relation", "entity"), BOOL)],
}
EFFECT_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "relate": ("entity", "relation", "entity"),
    "unrelate": ("entity", "relation", "entity"),
    "reveal": ("fact", "npc"),
}


class _Checker:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.reads: set[str] = set()

    def check(self, node: Node) -> Type:
        if isinstance(node, Lit):
            v = node.value
            if isinstance(v, bool):
                return BOOL
            return INT if isinstance(v, int) else FLOAT if isinstance(v, float) else STRING
        if isinstance(node, Name):
            return self.name(node)
        if isinstance(node, Unary):
            t = self.check(node.arg)
            if node.op == "not":
                if t.kind != "bool":
                    raise ExprError(f"'not' needs a bool but got {t.a}", node.col)
                return BOOL
            if not t.numeric:
                raise ExprError(f"'{node.op}' needs a number but got {t.a}", node.col)
            return t
        if isinstance(node, ListLit):
            if not node.items:
                raise ExprError("an empty list can never contain anything", node.col)
            types = [self.check(i) for i in node.items]
            first = types[0]
            for t, item in zip(types, node.items, strict=True):
                if _join(first, t) is None:
                    raise ExprError(f"a list mixes {first.a} and {t.a}", item.col)
            return Type("list", item=STRING if first.stringy else first)
        if isinstance(node, Call):
            return self.call(node, CONDITION_FUNCTIONS)
        if isinstance(node, Bin):
            return self.binary(node)
        raise ExprError("not an expression", node.col)

    def name(self, node: Name) -> Type:
        found = self.scope.name_type(node.name)
        if found is None:
            hint = self.scope.suggest(node.name)
            more = f"; did you mean '{hint}'?" if hint else ""
            raise ExprError(f"unknown name '{node.name}'{more}", node.col)
        node.kind, t = found
        if node.kind == "var":
            self.reads.add("v:" + node.name)
        elif node.kind == "quest":
            self.reads.add("q:" + node.name[len("quest.") :])
        elif node.kind == "ext":
            self.reads.add("x:" + node.name)
        return t

    def binary(self, node: Bin) -> Type:
        lt, rt = self.check(node.left), self.check(node.right)
        op = node.op
        if op in ("and", "or"):
            for t, side in ((lt, node.left), (rt, node.right)):
                if t.kind != "bool":
                    raise ExprError(f"'{op}' joins true/false values, not {t.a}", side.col)
            return BOOL
        if op in ("+", "-", "*", "/", "%"):
            for t, side in ((lt, node.left), (rt, node.right)):
                if not t.numeric:
                    raise ExprError(f"'{op}' needs numbers but got {t.a}", side.col)
            result = num_type(lt, rt)
            node.real = result.kind == "float"
            return result
        if op in ("in", "not in"):
            if rt.kind != "list" or rt.item is None:
                raise ExprError(f"'{op}' needs a list like [1, 2] on its right", node.right.col)
            self.compare(lt, rt.item, node.left, node.right, "==")
            return BOOL
        self.compare(lt, rt, node.left, node.right, op)
        return BOOL

    def compare(self, lt: Type, rt: Type, left: Node, right: Node, op: str) -> None:
        if op in ("<", "<=", ">", ">="):
            if not lt.numeric or not rt.numeric:
                raise ExprError(f"'{op}' compares numbers, not {lt.a} and {rt.a}", left.col)
            return
        if _join(lt, rt) is None:
            raise ExprError(f"cannot compare {lt.a} with {rt.a}", right.col)
        # A string literal compared with an enumeration must be one of its members.
        for t, other in ((lt, right), (rt, left)):
            if t.kind == "enum" and t.values is not None:
                for lit in _literals(other):
                    if isinstance(lit.value, str) and lit.value not in t.values:
                        raise ExprError(f'"{lit.value}" is not {t}', lit.col)

    def call(self, node: Call, table: dict[str, list[tuple[tuple[str, ...], Type]]]) -> Type:
        sigs = table.get(node.fn)
        if sigs is None:
            names = ", ".join(sorted(table))
            raise ExprError(f"unknown function '{node.fn}' (known: {names})", node.col)
        for roles, result in sigs:
            if len(roles) == len(node.args):
                if node.fn == "knows" and len(roles) == 1 and not self.scope.npc_context:
                    raise ExprError(
                        'knows(fact) is only for persona conditions; here write knows("npc", "fact")',
                        node.col,
                    )
                self.args(node, roles)
                return result
        counts = " or ".join(str(len(r)) for r, _ in sigs)
        raise ExprError(f"{node.fn}() takes {counts} arguments, got {len(node.args)}", node.col)

    def args(self, node: Call, roles: tuple[str, ...]) -> None:
        for role, arg in zip(roles, node.args, strict=True):
            t = self.check(arg)
            if not t.stringy:
                raise ExprError(f"{node.fn}() needs a {role} id (a string), got {t.a}", arg.col)
            if isinstance(arg, Lit):
                problem = self.scope.check_id(role, arg.value)
                if problem:
                    raise ExprError(problem, arg.col)
            elif t.kind == "enum" and t.values is not None and role != "relation":
                # An enum argument (arg.drink) stands for each of its values: each must be an id.
                for value in sorted(t.values):
                    problem = self.scope.check_id(role, value)
                    if problem:
                        raise ExprError(f"{problem} (a value of {_describe(arg)})", arg.col)
        if node.fn in ("rel", "relate", "unrelate"):
            rel, end = node.args[1], node.args[2]
            if not isinstance(rel, Lit):
                self.reads.add("r:*")
            elif isinstance(end, Lit):
                self.reads.add(f"r:{rel.value}:{end.value}")  # the finest key: type and target
            else:
                self.reads.add("r:" + rel.value)
        if node.fn == "knows":
            fact = node.args[-1]
            self.reads.add("k:" + fact.value if isinstance(fact, Lit) else "k:*")


def _describe(node: Node) -> str:
    return f"'{node.name}'" if isinstance(node, Name) else "this argument"


def _literals(node: Node) -> list[Lit]:
    if isinstance(node, Lit):
        return [node]
    if isinstance(node, ListLit):
        return [i for i in node.items if isinstance(i, Lit)]
    return []


def _join(a: Type, b: Type) -> Type | None:
    if a.numeric and b.numeric:
        return num_type(a, b)
    if a.stringy and b.stringy:
        if a.kind == "enum" and b.kind == "enum" and a.values != b.values and not (a.values & b.values):  # type: ignore[operator]
            return None
        return STRING
    return a if a.kind == b.kind else None


def check_condition(src: str, scope: Scope) -> Checked:
    node = parse_condition(src)
    checker = _Checker(scope)
    t = checker.check(node)
    if t.kind != "bool":
        raise ExprError(f"a condition must be true or false, but this is {t.a}", node.col)
    return Checked(node, t, checker.reads)


@dataclass
class CheckedEffect:
    effect: Effect
    writes: set[str]  # v:<var> r:<type> k:<fact> x:<ext>
    reads: set[str]


def check_effect(src: str, scope: Scope) -> CheckedEffect:
    eff = parse_effect(src)
    checker = _Checker(scope)
    writes: set[str] = set()
    if isinstance(eff, Assign):
        found = scope.name_type(eff.target.name)
        if found is None or found[0] not in ("var", "ext"):
            if found is not None and found[0] == "quest":
                msg = f"'{eff.target.name}' changes only through the quest's transitions"
            elif found is not None:
                msg = f"'{eff.target.name}' is read-only here"
            else:
                hint = scope.suggest(eff.target.name)
                msg = f"unknown variable '{eff.target.name}'" + (f"; did you mean '{hint}'?" if hint else "")
            raise ExprError(msg, eff.target.col)
        eff.target.kind, target_t = found
        value_t = checker.check(eff.value)
        if eff.op in ("+=", "-=") and (not target_t.numeric or not value_t.numeric):
            raise ExprError(f"'{eff.op}' adds numbers; '{eff.target.name}' is {target_t.a}", eff.col)
        if eff.op == "=":
            checker.compare(target_t, value_t, eff.target, eff.value, "==")
        if target_t.kind == "int" and value_t.kind == "float":
            raise ExprError(
                f"'{eff.target.name}' is an int but the value is a float; declare it 'type: float'",
                eff.value.col,
            )
        writes.add(("x:" if eff.target.kind == "ext" else "v:") + eff.target.name)
        return CheckedEffect(eff, writes, checker.reads)
    roles = EFFECT_FUNCTIONS.get(eff.fn)
    if roles is None:
        names = ", ".join(sorted(EFFECT_FUNCTIONS))
        raise ExprError(f"unknown effect '{eff.fn}' (known: {names})", eff.col)
    if len(eff.args) != len(roles):
        raise ExprError(f"{eff.fn}() takes {len(roles)} arguments, got {len(eff.args)}", eff.col)
    checker.args(eff, roles)
    rel_reads = {r for r in checker.reads if r.startswith(("r:", "k:"))}
    if eff.fn == "reveal":
        fact = eff.args[0]
        writes.add("k:" + fact.value if isinstance(fact, Lit) else "k:*")
    else:
        writes |= rel_reads
    return CheckedEffect(eff, writes, checker.reads - rel_reads)
