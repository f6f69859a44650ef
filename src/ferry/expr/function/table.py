"""The ``_function`` whitelist: which sqlglot node compiles to which closure, and the function names.

Owns the entries of :data:`ferry.expr.function.compiler.HANDLERS` and of
:data:`ferry.expr.function.shapes.ANONYMOUS`, and :data:`SUPPORTED_FUNCTIONS`. A node type that is
not listed here is rejected at compile time; nothing else can be called.
"""

from __future__ import annotations

from sqlglot import exp

from ferry.expr import mysql
from ferry.expr.function import aggregate, dates, logic, numbers, shapes, text
from ferry.expr.function.compiler import HANDLERS, Compiler, binary, comparison, unary
from ferry.expr.function.scan import Fn

shapes.ANONYMOUS.update(
    {
        "NOW": (0, 1, dates.now),
        "SYSDATE": (0, 1, dates.now),
        "UNIX_TIMESTAMP": (0, 1, dates.unix_timestamp),
    }
)

HANDLERS.update(
    {
        exp.Literal: Compiler.literal,
        exp.Null: Compiler.null,
        exp.Boolean: Compiler.boolean,
        exp.Placeholder: Compiler.placeholder,
        exp.Paren: Compiler.paren,
        exp.Neg: unary(mysql.neg),
        exp.Not: logic.not_,
        exp.And: logic.and_,
        exp.Or: logic.or_,
        exp.Xor: logic.xor,
        exp.Add: binary(mysql.add),
        exp.Sub: binary(mysql.sub),
        exp.Mul: binary(mysql.mul),
        exp.Div: binary(mysql.div),
        exp.IntDiv: binary(mysql.intdiv),
        exp.Mod: binary(mysql.mod),
        exp.EQ: comparison(lambda c: c == 0),
        exp.NEQ: comparison(lambda c: c != 0),
        exp.GT: comparison(lambda c: c > 0),
        exp.GTE: comparison(lambda c: c >= 0),
        exp.LT: comparison(lambda c: c < 0),
        exp.LTE: comparison(lambda c: c <= 0),
        exp.NullSafeEQ: logic.null_safe_eq,
        exp.Is: logic.is_,
        exp.In: logic.in_,
        exp.Between: logic.between,
        exp.Like: logic.like,
        exp.Case: logic.case,
        exp.If: logic.if_,
        exp.Coalesce: logic.coalesce,
        exp.Nullif: logic.nullif,
        exp.Left: shapes.function(("this", "expression"), text.left),
        exp.Right: shapes.function(("this", "expression"), text.right),
        exp.Substring: shapes.function(("this", "start", "length"), text.substring, required=2),
        exp.Concat: shapes.variadic(text.concat),
        exp.ConcatWs: shapes.variadic(text.concat_ws),
        exp.StrPosition: shapes.function(("this", "substr", "position"), text.locate, required=2),
        exp.Replace: shapes.function(("this", "expression", "replacement"), text.replace, required=2),
        exp.Upper: shapes.function(("this",), text.upper),
        exp.Lower: shapes.function(("this",), text.lower),
        exp.Pad: shapes.function(("this", "expression", "fill_pattern"), text.pad(True), required=2),
        exp.Repeat: shapes.function(("this", "times"), text.repeat),
        exp.SubstringIndex: shapes.function(("this", "delimiter", "count"), text.substring_index),
        exp.Round: shapes.function(("this", "decimals"), numbers.round_number, required=1),
        exp.Trunc: shapes.function(("this", "decimals"), numbers.truncate),
        exp.Abs: shapes.function(("this",), numbers.absolute),
        exp.Ceil: shapes.function(("this",), numbers.ceil),
        exp.Floor: shapes.function(("this",), numbers.floor),
        exp.Pow: shapes.function(("this", "expression"), numbers.power),
        exp.Greatest: shapes.variadic(numbers.extreme(True)),
        exp.Least: shapes.variadic(numbers.extreme(False)),
        exp.UnixToTime: shapes.from_unixtime,
        exp.TimeToStr: shapes.time_to_str,
        exp.TsOrDsToTimestamp: shapes.scoped(("this",), dates.to_datetime, required=1),
        exp.TsOrDsToDate: shapes.scoped(("this",), dates.to_date, required=1),
        exp.CurrentTimestamp: shapes.scoped((), dates.now),
        exp.CurrentDate: shapes.scoped((), dates.curdate),
        exp.Anonymous: shapes.anonymous,
        exp.Cast: shapes.cast,
        exp.Sum: shapes.aggregate(aggregate.total),
        exp.Avg: shapes.aggregate(aggregate.average),
        exp.Max: shapes.aggregate(aggregate.extreme(True)),
        exp.Min: shapes.aggregate(aggregate.extreme(False)),
        exp.Count: shapes.aggregate(aggregate.count),
    }
)


def _length(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    impl = text.length_bytes if node.args.get("binary") else text.length_chars
    return shapes.function(("this",), impl)(self, node, depth, agg)


def _trim_handler(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    position = node.args.get("position")
    position_name = str(position).upper() if position else None
    return shapes.function(("this", "expression"), text.trim(position_name), required=1)(
        self, node, depth, agg
    )


def _pad_handler(self: Compiler, node: exp.Expression, depth: int, agg: bool) -> Fn:
    left = bool(node.args.get("is_left"))
    return shapes.function(("this", "expression", "fill_pattern"), text.pad(left), required=2)(
        self, node, depth, agg
    )


HANDLERS[exp.Length] = _length
HANDLERS[exp.Trim] = _trim_handler
HANDLERS[exp.Pad] = _pad_handler

#: Function names accepted inside ``_function`` (for docs and error messages).
SUPPORTED_FUNCTIONS = [
    "ABS",
    "AVG",
    "CASE",
    "CAST",
    "CEIL",
    "CEILING",
    "CHAR_LENGTH",
    "COALESCE",
    "CONCAT",
    "CONCAT_WS",
    "COUNT",
    "CURDATE",
    "CURRENT_DATE",
    "CURRENT_TIMESTAMP",
    "DATE",
    "DATE_FORMAT",
    "FLOOR",
    "FROM_UNIXTIME",
    "GREATEST",
    "IF",
    "IFNULL",
    "INSTR",
    "LCASE",
    "LEAST",
    "LEFT",
    "LENGTH",
    "LOCATE",
    "LOWER",
    "LPAD",
    "LTRIM",
    "MAX",
    "MIN",
    "MOD",
    "NOW",
    "NULLIF",
    "POW",
    "POWER",
    "REPEAT",
    "REPLACE",
    "RIGHT",
    "ROUND",
    "RPAD",
    "RTRIM",
    "SUBSTR",
    "SUBSTRING",
    "SUBSTRING_INDEX",
    "SUM",
    "SYSDATE",
    "TRIM",
    "TRUNCATE",
    "UCASE",
    "UNIX_TIMESTAMP",
    "UPPER",
]
