"""Repositories: every SQL statement of the product lives in this package, one module
per aggregate.

A `Repos` is bound to one link (`storage.repos.base`): `Database.read` to the readers
(committed data only), the value of `Database.transaction()` to the writer inside a
transaction.
"""

from __future__ import annotations

from storage.repos.approvals import ApprovalRepo
from storage.repos.base import Link
from storage.repos.classifications import ClassificationRepo
from storage.repos.leases import LeaseRepo
from storage.repos.messages import MessageRepo
from storage.repos.plans import PlanRepo
from storage.repos.sessions import SessionRepo
from storage.repos.tool_calls import ToolCallRepo
from storage.repos.transitions import TransitionRepo
from storage.repos.usage import UsageRepo

__all__ = [
    "ApprovalRepo",
    "ClassificationRepo",
    "LeaseRepo",
    "MessageRepo",
    "PlanRepo",
    "Repos",
    "SessionRepo",
    "ToolCallRepo",
    "TransitionRepo",
    "UsageRepo",
]


class Repos:
    """All repositories over one link."""

    def __init__(self, conn: Link) -> None:
        self.sessions = SessionRepo(conn)
        self.messages = MessageRepo(conn)
        self.tool_calls = ToolCallRepo(conn)
        self.plans = PlanRepo(conn)
        self.approvals = ApprovalRepo(conn)
        self.transitions = TransitionRepo(conn)
        self.usage = UsageRepo(conn)
        self.classifications = ClassificationRepo(conn)
        self.leases = LeaseRepo(conn)
