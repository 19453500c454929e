"""Genie: one space over the SQLite dataset, answering with a fixed question → SQL rule table.

This is not an AI: each rule is a regular expression, the SQL it runs, and a sentence built
from the result. The SQL in the query attachment is exactly what ran on SQLite. A message is
SUBMITTED when created and COMPLETED from the first poll on; its answer carries a `query`
attachment (SQL, description, statement) and a `text` attachment, or for a question no rule
knows, a `text` attachment saying what it can answer plus suggested questions.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulator.clock import Clock
from emulator.dataset import Dataset
from emulator.errors import does_not_exist, invalid_parameter, json_body
from emulator.identity import USER_ID

SPACE_ID = "01f0c0ffee5160ff"
SPACE_TITLE = "Orders"
LAST_7_DAYS = "order_date > date('now', '-7 days')"
SQL_TYPE_TEXT = {"LONG": "BIGINT", "DOUBLE": "DOUBLE", "STRING": "STRING", "DATE": "DATE"}
EXAMPLES = (
    "How many orders last week?",
    "What was the total revenue last week?",
    "Show the orders from last week",
    "Orders by status",
    "Who are the top customers?",
    "List the refunds",
)
SPACE_DESCRIPTION = (
    "Orders and refunds of the signoff demo shop (local emulator; questions are matched by "
    "fixed rules, not an AI). Try: " + "; ".join(EXAMPLES)
)


def _money(value: float | None) -> str:
    return f"{value or 0:.2f}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Rule:
    """A question pattern, the SQL that answers it, and how to say the answer."""

    pattern: re.Pattern[str]
    title: str
    description: str
    sql: str
    types: tuple[str, ...]
    """Databricks type name of each result column."""
    answer: Callable[[list[tuple[Any, ...]]], str]


RULES: tuple[Rule, ...] = (
    Rule(
        re.compile(r"\brefund", re.I),
        "Refunds",
        "Lists every refund with its order, amount and reason.",
        "SELECT refund_id, order_id, amount, reason, created_at FROM refunds ORDER BY refund_id",
        ("LONG", "LONG", "DOUBLE", "STRING", "STRING"),
        lambda rows: (
            f"Refunds so far: {_count(len(rows), 'refund')} "
            f"totalling {_money(sum(row[2] for row in rows))}."
        ),
    ),
    Rule(
        re.compile(r"how many orders.*\b(?:last|past|this) (?:week|7 days)", re.I),
        "Orders in the last 7 days",
        "Counts the orders placed in the last 7 days.",
        f"SELECT COUNT(*) AS order_count FROM orders WHERE {LAST_7_DAYS}",
        ("LONG",),
        lambda rows: f"{_count(rows[0][0], 'order')} in the last 7 days.",
    ),
    Rule(
        re.compile(r"\b(?:revenue|sales)\b.*\b(?:last|past|this) (?:week|7 days)", re.I),
        "Revenue in the last 7 days",
        "Sums the amount of the orders placed in the last 7 days, excluding cancelled ones.",
        "SELECT ROUND(SUM(amount), 2) AS revenue FROM orders "
        f"WHERE {LAST_7_DAYS} AND status != 'cancelled'",
        ("DOUBLE",),
        lambda rows: f"Revenue in the last 7 days was {_money(rows[0][0])}.",
    ),
    Rule(
        re.compile(r"\borders\b.*\b(?:last|past|this) (?:week|7 days)", re.I),
        "Orders placed in the last 7 days",
        "Lists the orders placed in the last 7 days, newest first.",
        "SELECT order_id, customer, amount, status, order_date FROM orders "
        f"WHERE {LAST_7_DAYS} ORDER BY order_date DESC, order_id",
        ("LONG", "STRING", "DOUBLE", "STRING", "DATE"),
        lambda rows: f"{_count(len(rows), 'order')} placed in the last 7 days.",
    ),
    Rule(
        re.compile(r"\b(?:by|per|each) status\b|\bstatus(?:es)? of (?:the |all )?orders\b", re.I),
        "Orders by status",
        "Counts the orders in each status.",
        "SELECT status, COUNT(*) AS orders FROM orders "
        "GROUP BY status ORDER BY orders DESC, status",
        ("STRING", "LONG"),
        lambda rows: "Orders by status: " + ", ".join(f"{status} {n}" for status, n in rows) + ".",
    ),
    Rule(
        re.compile(r"\b(?:top|best|biggest) customers?\b", re.I),
        "Top customers",
        "Ranks customers by the total amount of their orders, excluding cancelled ones.",
        "SELECT customer, COUNT(*) AS orders, ROUND(SUM(amount), 2) AS total_amount "
        "FROM orders WHERE status != 'cancelled' "
        "GROUP BY customer ORDER BY total_amount DESC LIMIT 5",
        ("STRING", "LONG", "DOUBLE"),
        lambda rows: (
            f"The top customer is {rows[0][0]} with {_money(rows[0][2])} "
            f"across {rows[0][1]} orders."
        ),
    ),
    Rule(
        re.compile(r"how many orders", re.I),
        "All orders",
        "Counts all orders.",
        "SELECT COUNT(*) AS order_count FROM orders",
        ("LONG",),
        lambda rows: f"{_count(rows[0][0], 'order')} in total.",
    ),
)


def _id() -> str:
    return uuid.uuid4().hex


@dataclass
class Message:
    """One question in a conversation and, once answered, its attachments."""

    conversation_id: str
    content: str
    created: int
    attachments: list[dict[str, Any]]
    results: dict[str, dict[str, Any]]
    """Statement responses by query attachment id."""
    message_id: str = field(default_factory=_id)
    polled: bool = False

    def as_json(self) -> dict[str, Any]:
        """The message as `GET .../messages/{id}` returns it."""
        body: dict[str, Any] = {
            "id": self.message_id,
            "message_id": self.message_id,
            "space_id": SPACE_ID,
            "conversation_id": self.conversation_id,
            "content": self.content,
            "status": "COMPLETED" if self.polled else "SUBMITTED",
            "created_timestamp": self.created,
            "last_updated_timestamp": self.created,
            "user_id": int(USER_ID),
        }
        if self.polled:
            body["attachments"] = self.attachments
        return body


class Genie:
    """The Genie space and its conversations."""

    def __init__(self, dataset: Dataset, clock: Clock) -> None:
        self.dataset = dataset
        self.clock = clock
        self.conversations: dict[str, str] = {}
        """Conversation id → title."""
        self.messages: dict[str, Message] = {}

    def ask(self, conversation_id: str, question: str) -> Message:
        """Answer `question` now; the answer shows once the client polls the message."""
        rule = next((rule for rule in RULES if rule.pattern.search(question)), None)
        attachments, results = self._answer(rule) if rule else self._cannot_answer()
        message = Message(conversation_id, question, self.clock.now_ms(), attachments, results)
        self.messages[message.message_id] = message
        return message

    def _answer(self, rule: Rule) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        columns, rows = self.dataset.query(rule.sql)
        query_id, text_id, statement_id = _id(), _id(), _id()
        query = {
            "attachment_id": query_id,
            "query": {
                "id": query_id,
                "title": rule.title,
                "description": rule.description,
                "query": rule.sql,
                "statement_id": statement_id,
                "query_result_metadata": {"row_count": len(rows)},
            },
        }
        text = {"attachment_id": text_id, "text": {"id": text_id, "content": rule.answer(rows)}}
        statement = {
            "statement_id": statement_id,
            "status": {"state": "SUCCEEDED"},
            "manifest": {
                "format": "JSON_ARRAY",
                "schema": {
                    "column_count": len(columns),
                    "columns": [
                        {
                            "name": name,
                            "position": position,
                            "type_name": type_name,
                            "type_text": SQL_TYPE_TEXT[type_name],
                        }
                        for position, (name, type_name) in enumerate(
                            zip(columns, rule.types, strict=True)
                        )
                    ],
                },
                "total_row_count": len(rows),
                "total_chunk_count": 1,
                "truncated": False,
            },
            "result": {
                "chunk_index": 0,
                "row_offset": 0,
                "row_count": len(rows),
                "data_array": [
                    [None if value is None else str(value) for value in row] for row in rows
                ],
            },
        }
        return [query, text], {query_id: statement}

    @staticmethod
    def _cannot_answer() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
        text_id, suggestions_id = _id(), _id()
        text = (
            "I can only answer a few fixed questions about the orders and refunds tables "
            "(this Genie space is a rule-based emulator). Try: " + "; ".join(EXAMPLES)
        )
        return [
            {"attachment_id": text_id, "text": {"id": text_id, "content": text}},
            {
                "attachment_id": suggestions_id,
                "suggested_questions": {"questions": list(EXAMPLES)},
            },
        ], {}

    def routes(self) -> list[Route]:
        """The Genie API routes."""
        space = "/api/2.0/genie/spaces/{space_id}"
        message = space + "/conversations/{conversation_id}/messages/{message_id}"
        return [
            Route(space, self._get_space, methods=["GET"]),
            Route(space + "/start-conversation", self._start_conversation, methods=["POST"]),
            Route(
                space + "/conversations/{conversation_id}/messages",
                self._create_message,
                methods=["POST"],
            ),
            Route(message, self._get_message, methods=["GET"]),
            Route(
                message + "/attachments/{attachment_id}/query-result",
                self._get_query_result,
                methods=["GET"],
            ),
        ]

    async def _get_space(self, request: Request) -> JSONResponse:
        _check_space(request)
        return JSONResponse(
            {
                "space_id": SPACE_ID,
                "title": SPACE_TITLE,
                "description": SPACE_DESCRIPTION,
                "warehouse_id": "emulator-sqlite",
            }
        )

    async def _start_conversation(self, request: Request) -> JSONResponse:
        _check_space(request)
        question = await _question(request)
        conversation_id = _id()
        self.conversations[conversation_id] = question[:100]
        message = await run_in_threadpool(self.ask, conversation_id, question)
        return JSONResponse(
            {
                "conversation_id": conversation_id,
                "message_id": message.message_id,
                "conversation": {
                    "id": conversation_id,
                    "conversation_id": conversation_id,
                    "space_id": SPACE_ID,
                    "title": self.conversations[conversation_id],
                    "created_timestamp": message.created,
                    "last_updated_timestamp": message.created,
                    "user_id": int(USER_ID),
                },
                "message": message.as_json(),
            }
        )

    async def _create_message(self, request: Request) -> JSONResponse:
        conversation_id = self._conversation(request)
        message = await run_in_threadpool(self.ask, conversation_id, await _question(request))
        return JSONResponse(message.as_json())

    async def _get_message(self, request: Request) -> JSONResponse:
        message = self._message(request)
        message.polled = True
        return JSONResponse(message.as_json())

    async def _get_query_result(self, request: Request) -> JSONResponse:
        message = self._message(request)
        attachment_id = request.path_params["attachment_id"]
        if not message.polled or attachment_id not in message.results:
            raise does_not_exist(f"Query attachment {attachment_id} does not exist.")
        return JSONResponse({"statement_response": message.results[attachment_id]})

    def _conversation(self, request: Request) -> str:
        _check_space(request)
        conversation_id = request.path_params["conversation_id"]
        if conversation_id not in self.conversations:
            raise does_not_exist(f"Conversation {conversation_id} does not exist.")
        return conversation_id

    def _message(self, request: Request) -> Message:
        conversation_id = self._conversation(request)
        message = self.messages.get(request.path_params["message_id"])
        if message is None or message.conversation_id != conversation_id:
            raise does_not_exist(f"Message {request.path_params['message_id']} does not exist.")
        return message


def _check_space(request: Request) -> None:
    if request.path_params["space_id"] != SPACE_ID:
        raise does_not_exist(f"Genie space {request.path_params['space_id']} does not exist.")


async def _question(request: Request) -> str:
    content = (await json_body(request)).get("content")
    if not isinstance(content, str) or not content.strip():
        raise invalid_parameter("content must be a non-empty string.")
    return content.strip()
