"""The agents: their specs and prompts, the tool registry, the approval policy and its
command parser."""
