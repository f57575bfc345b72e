"""The Lark parser of the filter grammar (`filter_grammar.lark`): filter text to comparisons.

Kept apart from `filters` so that Lark is imported by the first filter a server parses, not by
its start.
"""

from __future__ import annotations

import functools
from importlib import resources

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from modelyard.domain.errors import InvalidFilter
from modelyard.domain.filters import Identifier, Number, Op

_COMPARATORS = {"==": Op.EQ, "=": Op.EQ, "!=": Op.NE, "<>": Op.NE, "<": Op.LT, "<=": Op.LE,
                ">": Op.GT, ">=": Op.GE}
_TOKEN_NAMES = {
    "_AND": "AND", "COMPARATOR": "a comparison operator (=, !=, <, <=, >, >=)",
    "LIKE_OP": "LIKE or ILIKE", "IN_OP": "IN or NOT IN", "KEY": "a key",
    "PREFIXED_QUOTED": "a key", "BACKQUOTED": "a back-quoted key",
    "SINGLE_QUOTED": "a quoted string",
    "DOUBLE_QUOTED": "a quoted string", "NUMBER": "a number", "LPAR": "'('", "RPAR": "')'",
    "COMMA": "','", "$END": "the end of the filter",
}


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1]
    return body.replace(quote * 2, quote).replace("\\" + quote, quote).replace("\\\\", "\\")


@v_args(inline=True)
class _ToClauses(Transformer):
    def start(self, *comparisons: tuple[Identifier, Op, object]) -> list:
        return list(comparisons)

    def dotted_key(self, token: Token) -> Identifier:
        prefix, dot, key = str(token).partition(".")
        return Identifier(prefix, key, False) if dot else Identifier(None, prefix, False)

    def prefixed_quoted_key(self, token: Token) -> Identifier:
        prefix, _, key = str(token).partition(".")
        return Identifier(prefix, key[1:-1], True)

    def quoted_key(self, token: Token) -> Identifier:
        return Identifier(None, str(token)[1:-1], True)

    def string(self, token: Token) -> str:
        return _unquote(str(token))

    def value(self, item: object) -> object:
        return Number(str(item)) if isinstance(item, Token) else item

    def value_list(self, *items: object) -> tuple:
        return tuple(items)

    def compare(self, ident: Identifier, op: Token, value: object) -> tuple:
        return ident, _COMPARATORS[str(op)], value

    def like(self, ident: Identifier, op: Token, value: str) -> tuple:
        return ident, Op(str(op).upper()), value

    def within(self, ident: Identifier, op: Token, values: tuple) -> tuple:
        return ident, Op.NOT_IN if str(op).lower().startswith("not") else Op.IN, values


@functools.cache
def _parser() -> Lark:
    grammar = resources.files("modelyard.domain").joinpath("filter_grammar.lark").read_text()
    return Lark(grammar, parser="lalr", transformer=_ToClauses(), maybe_placeholders=False)


def _describe_syntax_error(text: str, error: UnexpectedInput) -> str:
    column = getattr(error, "column", "?")
    if isinstance(error, UnexpectedEOF):
        return f"Invalid filter {text!r}: the filter ends too early; expected a value."
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        return (f"Invalid filter {text!r}: unexpected character {text[position]!r} "
                f"at column {column}.")
    if isinstance(error, UnexpectedToken):
        expected = sorted({_TOKEN_NAMES.get(name, name) for name in error.expected})
        if error.token.type == "$END":
            return (f"Invalid filter {text!r}: the filter ends too early; expected "
                    f"{' or '.join(expected)} at column {len(text) + 1}.")
        found = repr(str(error.token))
        hint = ""
        if str(error.token).upper() == "OR":
            hint = " Only AND is supported between comparisons."
        elif error.token.type in {"KEY"} and "a quoted string" in expected:
            hint = " String values must be quoted with single or double quotes."
        return (f"Invalid filter {text!r}: unexpected {found} at column {column}; expected "
                f"{' or '.join(expected)}.{hint}")
    return f"Invalid filter {text!r}: {error}"


def parse_comparisons(text: str) -> tuple[tuple[Identifier, Op, object], ...]:
    """The filter's comparisons, in order; `InvalidFilter` saying where a syntax error is."""
    try:
        return tuple(_parser().parse(text))  # type: ignore[arg-type]
    except UnexpectedInput as error:
        raise InvalidFilter(_describe_syntax_error(text, error)) from None
