"""The approval protocol: how a graph asks a person, and how it reads the answer.

Every graph pauses through `ask_for_decisions`. The request it shows is langchain's
`HumanInTheLoopMiddleware` shape plus signoff's own fields; the answers it accepts are
langchain decisions, Agent Inbox responses and plain strings, all normalised to `Decision`.
A bad answer never raises: the node pauses again with the same request and an `error`.
"""

from signoff.approval.ask import Review, ask_for_decisions, current_request_id
from signoff.approval.parsing import InvalidAnswer, describe_error, parse_answer, withdrawal_in
from signoff.approval.shapes import (
    ActionRequest,
    ApprovalRequest,
    Chain,
    Decision,
    DecisionType,
    ReviewConfig,
    args_digest,
    args_to_run,
    build_request,
)

__all__ = [
    "ActionRequest",
    "ApprovalRequest",
    "Chain",
    "Decision",
    "DecisionType",
    "InvalidAnswer",
    "Review",
    "ReviewConfig",
    "args_digest",
    "args_to_run",
    "ask_for_decisions",
    "build_request",
    "current_request_id",
    "describe_error",
    "parse_answer",
    "withdrawal_in",
]
