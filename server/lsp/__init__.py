"""The language-server face: pygls wiring and handlers, JSON-RPC dispatch, LSP framing."""
