"""The MCP server: Kindling's services as tools for AI assistants, behind the same API keys and scopes as REST."""
