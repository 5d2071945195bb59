"""The wire contract shared by the sidecar and its clients (see PROTOCOL.md)."""
