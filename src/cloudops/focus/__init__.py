"""FOCUS domain: the column model, provider rules (data), format detection, pure conversion."""

from cloudops.focus.columns import FOCUS_COLUMNS, FocusColumn, focus_arrow_schema
from cloudops.focus.convert import ConversionResult, convert_batch
from cloudops.focus.detect import detect_format
from cloudops.focus.rules import FormatRules, load_all_rules, load_rules

__all__ = [
    "FOCUS_COLUMNS",
    "ConversionResult",
    "FocusColumn",
    "FormatRules",
    "convert_batch",
    "detect_format",
    "focus_arrow_schema",
    "load_all_rules",
    "load_rules",
]
