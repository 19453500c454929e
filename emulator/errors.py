"""Databricks-shaped API errors: `{"error_code": ..., "message": ...}` with an HTTP status.

Handlers raise `ApiError`; the app turns it into the JSON body the Databricks SDK parses into
its typed exceptions (`InvalidParameterValue`, `ResourceDoesNotExist`, `PermissionDenied`...).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse


class ApiError(Exception):
    """An error answered in Databricks' shape."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message

    def response(self) -> JSONResponse:
        """The HTTP response carrying this error."""
        return JSONResponse(
            {"error_code": self.error_code, "message": self.message}, status_code=self.status
        )


def invalid_parameter(message: str) -> ApiError:
    """400 INVALID_PARAMETER_VALUE, what Databricks answers for unknown ids and bad fields."""
    return ApiError(400, "INVALID_PARAMETER_VALUE", message)


def does_not_exist(message: str) -> ApiError:
    """404 RESOURCE_DOES_NOT_EXIST."""
    return ApiError(404, "RESOURCE_DOES_NOT_EXIST", message)


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object body; an empty body is `{}`."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = await request.json()
    except ValueError as error:
        raise ApiError(
            400, "MALFORMED_REQUEST", f"Invalid JSON in request body: {error}"
        ) from error
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_REQUEST", "The request body must be a JSON object.")
    return body


def require_int(value: Any, field: str) -> int:
    """`value` as an int (from a query string or JSON), else 400 naming `field`."""
    if value is None or value == "":
        raise invalid_parameter(f"Missing required field: {field}")
    if isinstance(value, bool):
        raise invalid_parameter(f"Invalid value for {field}: {value!r} is not an integer.")
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise invalid_parameter(
            f"Invalid value for {field}: {value!r} is not an integer."
        ) from error
