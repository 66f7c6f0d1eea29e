"""The rules engine: topic files, the query language, and matching stories at scale."""

from monitor.rules.engine import RuleEngine, RuleSet, load_rules
from monitor.rules.files import RuleError
from monitor.rules.matcher import Document

__all__ = ["Document", "RuleEngine", "RuleError", "RuleSet", "load_rules"]
