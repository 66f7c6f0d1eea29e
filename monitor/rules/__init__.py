"""The rules engine: topic files, the query language, and matching stories at scale."""

from monitor.rules.engine import RuleEngine, RuleSet, load_rules
from monitor.rules.files import RuleError
from monitor.rules.matcher import Document
from monitor.rules.references import check_rules_against_config

__all__ = [
    "Document",
    "RuleEngine",
    "RuleError",
    "RuleSet",
    "check_rules_against_config",
    "load_rules",
]
