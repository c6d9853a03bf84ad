"""Reports: deterministic JSON, and the terminal summary."""
from .writer import summary, write_report

__all__ = ["summary", "write_report"]
