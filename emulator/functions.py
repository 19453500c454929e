"""Unity Catalog functions: metadata of two bundled Python scalar functions.

`GET /api/2.1/unity-catalog/functions/{full_name}` answers a `FunctionInfo` like Unity Catalog
does for a Python UDF (routine_body EXTERNAL, external_language PYTHON, the body in
routine_definition). unitycatalog-ai's `DatabricksFunctionClient(execution_mode="local")` runs
that body itself in a subprocess, so each body starts with the absolute path of this emulator's
SQLite file: `issue_refund` writes the refund where Genie will read it.

`issue_refund` is safe to retry, as a real money-moving function must be: it takes an
`idempotency_key` and issues at most one refund per key (a UNIQUE column; a call whose key
was seen returns the refund already issued). signoff's tools fill the key themselves.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from emulator.errors import ApiError, invalid_parameter
from emulator.identity import USER_NAME

CATALOG = "main"
SCHEMA = "support"
# Unity Catalog type name → (type_text, type_json type) of a parameter.
PARAM_TYPES = {
    "INT": ("int", "integer"),
    "DOUBLE": ("double", "double"),
    "STRING": ("string", "string"),
}

LOOKUP_ORDER_BODY = '''import sqlite3

connection = sqlite3.connect(dataset)
try:
    row = connection.execute(
        "SELECT customer, amount, status, order_date FROM orders WHERE order_id = ?",
        (order_id,),
    ).fetchone()
    refunded = connection.execute(
        "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE order_id = ?", (order_id,)
    ).fetchone()[0]
finally:
    connection.close()
if row is None:
    raise ValueError(f"Order {order_id} does not exist.")
customer, amount, status, order_date = row
refund_note = f", {refunded:.2f} refunded" if refunded else ""
return f"Order {order_id}: {customer}, {amount:.2f}, {status}, placed {order_date}{refund_note}."'''

ISSUE_REFUND_BODY = '''import sqlite3
from datetime import datetime, timezone

if amount <= 0:
    raise ValueError(f"The refund amount must be positive, got {amount}.")
connection = sqlite3.connect(dataset)
try:
    with connection:
        done = connection.execute(
            "SELECT refund_id, order_id, amount, reason FROM refunds WHERE idempotency_key = ?",
            (idempotency_key,),
        ).fetchone() if idempotency_key else None
        if done is not None:  # a retry of a refund already issued: issue nothing new
            if tuple(done[1:]) != (order_id, amount, reason):
                raise ValueError(
                    f"idempotency_key {idempotency_key} already issued refund R-{done[0]} "
                    "with other arguments; use a new key for a new refund."
                )
            return f"Refund R-{done[0]} of {amount:.2f} issued for order {order_id} ({reason})."
        order = connection.execute(
            "SELECT amount FROM orders WHERE order_id = ?", (order_id,)
        ).fetchone()
        if order is None:
            raise ValueError(f"Order {order_id} does not exist.")
        refunded = connection.execute(
            "SELECT COALESCE(SUM(amount), 0) FROM refunds WHERE order_id = ?", (order_id,)
        ).fetchone()[0]
        refundable = round(order[0] - refunded, 2)
        if amount > refundable:
            raise ValueError(
                f"A refund of {amount:.2f} exceeds the {refundable:.2f} still refundable "
                f"on order {order_id}."
            )
        refund_id = connection.execute(
            "INSERT INTO refunds (order_id, amount, reason, created_at, idempotency_key) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                order_id,
                amount,
                reason,
                datetime.now(timezone.utc).isoformat(timespec="seconds"),
                idempotency_key,
            ),
        ).lastrowid
finally:
    connection.close()
return f"Refund R-{refund_id} of {amount:.2f} issued for order {order_id} ({reason})."'''


@dataclass(frozen=True)
class Param:
    """One input parameter of a bundled function."""

    name: str
    type_name: str
    comment: str
    default: str | None = None
    """The SQL default (`"NULL"`): the parameter may be left out."""


@dataclass(frozen=True)
class UcFunction:
    """A bundled Python scalar function returning STRING."""

    name: str
    comment: str
    params: tuple[Param, ...]
    body: str
    """The Python body; it may use `dataset`, the SQLite file's path."""

    @property
    def full_name(self) -> str:
        """catalog.schema.name."""
        return f"{CATALOG}.{SCHEMA}.{self.name}"

    def info(self, dataset: Path, created_at: int) -> dict[str, Any]:
        """The FunctionInfo Unity Catalog returns for this function."""
        return {
            "name": self.name,
            "catalog_name": CATALOG,
            "schema_name": SCHEMA,
            "full_name": self.full_name,
            "function_id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.full_name)),
            "comment": self.comment,
            "owner": USER_NAME,
            "created_at": created_at,
            "created_by": USER_NAME,
            "updated_at": created_at,
            "updated_by": USER_NAME,
            "data_type": "STRING",
            "full_data_type": "STRING",
            "routine_body": "EXTERNAL",
            "external_language": "PYTHON",
            "routine_definition": f"dataset = {str(dataset)!r}\n{self.body}",
            "parameter_style": "S",
            "is_deterministic": False,
            "is_null_call": False,
            "security_type": "DEFINER",
            "sql_data_access": "NO_SQL",
            "specific_name": self.name,
            "input_params": {
                "parameters": [
                    _param_info(param, position) for position, param in enumerate(self.params)
                ]
            },
        }


def _param_info(param: Param, position: int) -> dict[str, Any]:
    type_text, json_type = PARAM_TYPES[param.type_name]
    type_json = {
        "name": param.name,
        "type": json_type,
        "nullable": True,
        "metadata": {"comment": param.comment},
    }
    return {
        "name": param.name,
        "type_text": type_text,
        "type_name": param.type_name,
        "type_json": json.dumps(type_json),
        "type_precision": 0,
        "type_scale": 0,
        "position": position,
        "parameter_mode": "IN",
        "parameter_type": "PARAM",
        "comment": param.comment,
        **({"parameter_default": param.default} if param.default is not None else {}),
    }


FUNCTIONS: tuple[UcFunction, ...] = (
    UcFunction(
        name="lookup_order",
        comment="Describes one order: customer, amount, status, date and any refunds (read-only).",
        params=(Param("order_id", "INT", "The order's id."),),
        body=LOOKUP_ORDER_BODY,
    ),
    UcFunction(
        name="issue_refund",
        comment=(
            "Refunds part or all of an order and records it in the refunds table. "
            "Moves money: irreversible."
        ),
        params=(
            Param("order_id", "INT", "The order to refund."),
            Param("amount", "DOUBLE", "The amount to refund; positive, at most what is left."),
            Param("reason", "STRING", "Why the order is refunded."),
            Param(
                "idempotency_key",
                "STRING",
                "Retry key: a second call with the same key issues nothing new and returns "
                "the refund the first one issued.",
                default="NULL",
            ),
        ),
        body=ISSUE_REFUND_BODY,
    ),
)


class Functions:
    """The Unity Catalog functions of the emulated workspace."""

    def __init__(self, dataset: Path, created_at: int) -> None:
        self.infos = {
            function.full_name: function.info(dataset, created_at) for function in FUNCTIONS
        }

    def routes(self) -> list[Route]:
        """The Unity Catalog function routes."""
        return [
            Route("/api/2.1/unity-catalog/functions", self._list, methods=["GET"]),
            Route("/api/2.1/unity-catalog/functions/{name}", self._get, methods=["GET"]),
        ]

    async def _get(self, request: Request) -> JSONResponse:
        name = request.path_params["name"]
        if name not in self.infos:
            raise ApiError(404, "NOT_FOUND", f"Routine or Model '{name}' does not exist.")
        return JSONResponse(self.infos[name])

    async def _list(self, request: Request) -> JSONResponse:
        catalog = request.query_params.get("catalog_name")
        schema = request.query_params.get("schema_name")
        if not catalog or not schema:
            raise invalid_parameter("catalog_name and schema_name are required.")
        return JSONResponse(
            {
                "functions": [
                    info
                    for info in self.infos.values()
                    if (info["catalog_name"], info["schema_name"]) == (catalog, schema)
                ]
            }
        )
