"""The codelab-agent sidecar: runtime, agents, and the JSON-RPC server."""

__version__ = "0.1.0"
