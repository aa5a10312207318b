"""Tokens, syntax tree and parser of the expression language (see :mod:`npc_runtime.expr`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .types import ExprError

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
    kind: str = ""  # filled by the checker: var | quest | event | ext | self


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
