"""What the MCP clients in this directory share: the official Python SDK's imports (with how to
install it), and their checks."""

import sys

try:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client
    from mcp.shared.exceptions import MCPError
except ImportError as e:
    sys.exit(f"{e}: pip install mcp==2.3.0 (scripts/test does)")

__all__ = ["ClientSession", "StdioServerParameters", "stdio_client", "MCPError", "check", "structured"]


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def structured(result):
    """A tool call's structured content; the call must have succeeded and have some."""
    check(not result.is_error, f"tool error: {result}")
    check(result.structured_content is not None, f"no structured content: {result}")
    return result.structured_content
