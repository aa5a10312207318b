"""The world's small, safe expression language: parser, type checker and compiler. No ``eval``.

Conditions::

    quest.wolves == "done" and player.gold >= 10
    not gate.open or knows("gate_bribed")
    rel("player", "owns", "wolf_pelt") and wolves.killed in [3, 4, 5]

Effects (one per string)::

    player.gold -= 10
    gate.open = true
    relate("player", "owns", "iron_key")      unrelate(...)      reveal("gate_bribed", "mira")

Names are world variables (``player.gold``), quest states (``quest.wolves``, an enumeration of the
quest's states), in event rules the event's fields (``event.enemy``), and in persona conditions and
effects the names other concerns own (``relationship.trust``, kind ``ext``: see
:meth:`Extension.expression_names`). Numbers are ints (``3``) or floats (``0.5``); the two compare
and mix in arithmetic (the result is a float when either side is). A parsed expression is
type-checked against a :class:`Scope` and compiled into a tree of Python closures that read an
:class:`Env`; evaluation never touches Python's ``eval``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# -- types ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Type:
    kind: str  # bool | int | float | string | enum | list
    values: frozenset[str] | None = None  # enum members
    item: Type | None = None  # list element type

    def __str__(self) -> str:
        if self.kind == "enum" and self.values is not None:
            return "one of " + ", ".join(f'"{v}"' for v in sorted(self.values))
        if self.kind == "list" and self.item is not None:
            return f"list of {self.item}"
        return self.kind

    @property
    def a(self) -> str:
        """With its article: "an int", "a bool", "one of ..."."""
        text = str(self)
        if self.kind == "enum":
            return text
        return ("an " if text[0] in "aeiou" else "a ") + text

    @property
    def stringy(self) -> bool:
        return self.kind in ("string", "enum")

    @property
    def numeric(self) -> bool:
        return self.kind in ("int", "float")


BOOL = Type("bool")
INT = Type("int")
FLOAT = Type("float")
STRING = Type("string")
SIMPLE_TYPES = {"bool": BOOL, "int": INT, "float": FLOAT, "string": STRING}


def simple_type(name: str) -> Type:
    """The type called ``name`` (bool | int | float | string); ValueError for anything else."""
    try:
        return SIMPLE_TYPES[name]
    except KeyError:
        raise ValueError(f"unknown type '{name}' (one of {', '.join(SIMPLE_TYPES)})") from None


def num_type(a: Type, b: Type) -> Type:
    """The result of arithmetic on two numbers: float when either is."""
    return FLOAT if FLOAT.kind in (a.kind, b.kind) else INT


def enum(values: Sequence[str]) -> Type:
    return Type("enum", frozenset(values))


class ExprError(Exception):
    """A syntax or type error in an expression; ``col`` is 1-based."""

    def __init__(self, message: str, col: int | None = None) -> None:
        self.message = message
        self.col = col
        super().__init__(f"{message} (at column {col})" if col else message)


class EvalError(Exception):
    """An expression failed at run time (division by zero, a bad argument)."""


class Hidden(Exception):
    """A name is not in the evaluating NPC's view."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


# -- tokens -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<num>\d+(?:\.\d+)?)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
      | (?P<op>==|!=|<=|>=|\+=|-=|[-+*/%<>=()\[\],])""",
    re.VERBOSE,
)
KEYWORDS = {"and", "or", "not", "in", "true", "false"}


@dataclass
class Tok:
    kind: str  # num | str | name | op | kw | end
    text: str
    col: int


def tokenize(src: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise ExprError(f"unexpected character {src[pos]!r}", pos + 1)
        kind = m.lastgroup or ""
        text = m.group()
        if kind != "ws":
            if kind == "name" and text in KEYWORDS:
                kind = "kw"
            out.append(Tok(kind, text, pos + 1))
        pos = m.end()
    out.append(Tok("end", "", len(src) + 1))
    return out


# -- syntax tree ------------------------------------------------------------------------------


@dataclass
class Node:
    col: int


@dataclass
class Lit(Node):
    value: Any


@dataclass
class Name(Node):
    name: str
    kind: str = ""  # filled by the checker: var | quest | event | ext


@dataclass
class Unary(Node):
    op: str
    arg: Node


@dataclass
class Bin(Node):
    op: str
    left: Node
    right: Node
    real: bool = False  # set by the checker: float arithmetic ('/' divides exactly)


@dataclass
class ListLit(Node):
    items: list[Node]


@dataclass
class Call(Node):
    fn: str
    args: list[Node]


@dataclass
class Assign(Node):
    target: Name
    op: str  # = += -=
    value: Node


Effect = Assign | Call

_CMP = {"==", "!=", "<", "<=", ">", ">="}


class _Parser:
    def __init__(self, src: str) -> None:
        self.toks = tokenize(src)
        self.i = 0

    @property
    def tok(self) -> Tok:
        return self.toks[self.i]

    def take(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at(self, *texts: str) -> bool:
        return self.tok.kind in ("op", "kw") and self.tok.text in texts

    def expect(self, text: str) -> Tok:
        if not self.at(text):
            got = self.tok.text or "the end"
            raise ExprError(f"expected '{text}' but found '{got}'", self.tok.col)
        return self.take()

    def end(self) -> None:
        if self.tok.kind != "end":
            raise ExprError(f"unexpected '{self.tok.text}'", self.tok.col)

    def expr(self) -> Node:
        return self.or_()

    def or_(self) -> Node:
        node = self.and_()
        while self.at("or"):
            col = self.take().col
            node = Bin(col, "or", node, self.and_())
        return node

    def and_(self) -> Node:
        node = self.not_()
        while self.at("and"):
            col = self.take().col
            node = Bin(col, "and", node, self.not_())
        return node

    def not_(self) -> Node:
        if self.at("not"):
            col = self.take().col
            return Unary(col, "not", self.not_())
        return self.cmp()

    def cmp(self) -> Node:
        node = self.add()
        if self.tok.kind == "op" and self.tok.text in _CMP:
            t = self.take()
            node = Bin(t.col, t.text, node, self.add())
        elif self.at("in"):
            col = self.take().col
            node = Bin(col, "in", node, self.add())
        elif self.at("not") and self.toks[self.i + 1].text == "in":
            col = self.take().col
            self.take()
            node = Bin(col, "not in", node, self.add())
        if (self.tok.kind == "op" and self.tok.text in _CMP) or self.at("in"):
            raise ExprError("comparisons cannot be chained; join them with 'and'", self.tok.col)
        return node

    def add(self) -> Node:
        node = self.mul()
        while self.at("+", "-"):
            t = self.take()
            node = Bin(t.col, t.text, node, self.mul())
        return node

    def mul(self) -> Node:
        node = self.unary()
        while self.at("*", "/", "%"):
            t = self.take()
            node = Bin(t.col, t.text, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.at("-"):
            col = self.take().col
            return Unary(col, "-", self.unary())
        return self.primary()

    def primary(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.take()
            return Lit(t.col, float(t.text) if "." in t.text else int(t.text))
        if t.kind == "str":
            self.take()
            return Lit(t.col, _unquote(t.text))
        if t.kind == "kw" and t.text in ("true", "false"):
            self.take()
            return Lit(t.col, t.text == "true")
        if t.kind == "name":
            self.take()
            if self.at("("):
                self.take()
                args: list[Node] = []
                if not self.at(")"):
                    args.append(self.expr())
                    while self.at(","):
                        self.take()
                        args.append(self.expr())
                self.expect(")")
                return Call(t.col, t.text, args)
            return Name(t.col, t.text)
        if self.at("("):
            self.take()
            node = self.expr()
            self.expect(")")
            return node
        if self.at("["):
            col = self.take().col
            items: list[Node] = []
            if not self.at("]"):
                items.append(self.expr())
                while self.at(","):
                    self.take()
                    items.append(self.expr())
            self.expect("]")
            return ListLit(col, items)
        if t.kind == "op" and t.text == "=":
            raise ExprError("'=' assigns; compare with '=='", t.col)
        raise ExprError(f"expected a value but found '{t.text or 'the end'}'", t.col)


def _unquote(text: str) -> str:
    body = text[1:-1]
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def parse_condition(src: str) -> Node:
    p = _Parser(src)
    if p.tok.kind == "end":
        raise ExprError("empty condition", 1)
    node = p.expr()
    if p.at("=", "+=", "-="):
        raise ExprError(f"'{p.tok.text}' changes a value; a condition compares with '=='", p.tok.col)
    p.end()
    return node


def parse_effect(src: str) -> Effect:
    p = _Parser(src)
    t = p.tok
    if t.kind == "name" and p.toks[p.i + 1].text in ("=", "+=", "-="):
        p.take()
        op = p.take().text
        value = p.expr()
        p.end()
        return Assign(t.col, Name(t.col, t.text), op, value)
    node = p.expr()
    p.end()
    if isinstance(node, Call):
        return node
    raise ExprError("an effect is 'name = value', 'name += n', 'name -= n' or a call like relate(...)", t.col)


# -- checking -----------------------------------------------------------------------------------


class Scope(Protocol):
    """What names and ids exist, for the type checker."""

    def name_type(self, name: str) -> tuple[str, Type] | None:
        """(kind, type) of a name, kind being var | quest | event | ext; None when unknown."""
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
