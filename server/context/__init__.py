"""The context budget: how big a model's window is, how many tokens a prompt takes, and
how a thread is shown to a model when all of it no longer fits (elided tool results,
results cut to head and tail, older turns replaced by a stored summary).

Compaction changes only what a model is shown. Every message stays stored as it was;
a compaction is itself a stored row (`MessageKind.SUMMARY` or `ELISION`) that later
steps reuse, so nothing is recomputed every step and a crash repeats nothing.
"""
