"""The Agent Client Protocol face (`codelab-agent acp`): ACP's sessions and prompt turns,
served over stdio with the official SDK, on the same runtime, FSM, storage and policy as
the LSP face (`server/lsp/`)."""
