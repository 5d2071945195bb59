"""The terminal client: `codelab-agent chat`."""
