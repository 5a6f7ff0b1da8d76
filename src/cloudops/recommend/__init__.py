"""Savings recommenders: pure functions over a tenant's usage rows -> Recommendation records.

Input is a sequence of :class:`UsageRow` (one per billing month, resource and usage
detail, built from ClickHouse by :mod:`cloudops.sinks.recommend_input`) and a
:class:`RecommendContext` (tenant, billing month, the evidence query's text). Output is
a list of :class:`cloudops.schemas.recommendations.Recommendation`. No I/O: the price
ratios are packaged data (``recommend/data``, see its README).
"""

from cloudops.recommend.prices import PriceBook, Replacement, load_price_book
from cloudops.recommend.registry import RECOMMENDERS, Recommender, RecommenderFn, kinds, recommend, recommender
from cloudops.recommend.rows import RecommendContext, UsageRow, month_label, parse_month

__all__ = [
    "RECOMMENDERS",
    "PriceBook",
    "RecommendContext",
    "Recommender",
    "RecommenderFn",
    "Replacement",
    "UsageRow",
    "kinds",
    "load_price_book",
    "month_label",
    "parse_month",
    "recommend",
    "recommender",
]
