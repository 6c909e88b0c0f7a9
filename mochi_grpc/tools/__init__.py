"""Python tools the model may call: discovery, schemas, execution, confirmation."""

from mochi_grpc.tools.catalog import LoadError, Tool, ToolCatalog, package_tools
from mochi_grpc.tools.confirmations import Confirmations
from mochi_grpc.tools.runner import ToolOutcome, ToolRunner

__all__ = [
    "Confirmations",
    "LoadError",
    "Tool",
    "ToolCatalog",
    "ToolOutcome",
    "ToolRunner",
    "package_tools",
]
