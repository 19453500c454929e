"""The emulator's SQLite dataset: a small shop's `orders` and `refunds`.

Order dates are relative to the day the dataset is created (UTC), so "last week" always has
data. Recent orders are 0-5 days old and older ones at least 9 days, so a question asked just
after midnight still sees the same "last 7 days". Genie queries it and the bundled Unity Catalog
functions read and write it (from their own subprocess, by file path).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE orders (
    order_id INTEGER PRIMARY KEY,
    customer TEXT NOT NULL,
    amount REAL NOT NULL,
    status TEXT NOT NULL,
    order_date TEXT NOT NULL
);
CREATE TABLE refunds (
    refund_id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders(order_id),
    amount REAL NOT NULL,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL,
    idempotency_key TEXT UNIQUE
);
"""

# (customer, amount, status, days ago); order ids are 1..30 in this order.
ORDERS: tuple[tuple[str, float, str, int], ...] = (
    ("Acme Corp", 120.00, "delivered", 40),
    ("Globex", 89.50, "delivered", 38),
    ("Initech", 240.00, "delivered", 35),
    ("Umbrella", 45.25, "delivered", 33),
    ("Hooli", 310.00, "cancelled", 31),
    ("Acme Corp", 75.00, "delivered", 29),
    ("Stark Industries", 990.00, "delivered", 27),
    ("Wayne Enterprises", 560.00, "delivered", 25),
    ("Globex", 130.00, "delivered", 23),
    ("Vandelay Imports", 64.99, "delivered", 21),
    ("Initech", 210.00, "delivered", 19),
    ("Acme Corp", 99.00, "cancelled", 17),
    ("Hooli", 415.50, "delivered", 16),
    ("Umbrella", 38.00, "delivered", 14),
    ("Stark Industries", 720.00, "delivered", 13),
    ("Globex", 55.00, "delivered", 12),
    ("Wayne Enterprises", 180.00, "delivered", 11),
    ("Vandelay Imports", 92.40, "shipped", 10),
    ("Acme Corp", 260.00, "shipped", 9),
    ("Initech", 33.30, "shipped", 9),
    ("Hooli", 150.00, "shipped", 5),
    ("Stark Industries", 1200.00, "shipped", 5),
    ("Globex", 78.90, "processing", 4),
    ("Umbrella", 64.00, "cancelled", 4),
    ("Acme Corp", 310.00, "processing", 3),
    ("Wayne Enterprises", 95.00, "processing", 2),
    ("Vandelay Imports", 48.75, "processing", 2),
    ("Initech", 125.00, "processing", 1),
    ("Hooli", 22.00, "processing", 0),
    ("Stark Industries", 405.00, "processing", 0),
)

# (order id, amount, reason, days ago): refunds that already happened.
REFUNDS: tuple[tuple[int, float, str, int], ...] = ((4, 15.00, "late delivery", 30),)


class Dataset:
    """A fresh copy of the shop's data in one SQLite file (replacing any file there)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        now = datetime.now(UTC)
        today = now.date()
        with closing(sqlite3.connect(path)) as connection, connection:
            connection.executescript(SCHEMA)
            connection.executemany(
                "INSERT INTO orders (customer, amount, status, order_date) VALUES (?, ?, ?, ?)",
                [
                    (customer, amount, status, (today - timedelta(days=days)).isoformat())
                    for customer, amount, status, days in ORDERS
                ],
            )
            connection.executemany(
                "INSERT INTO refunds (order_id, amount, reason, created_at) VALUES (?, ?, ?, ?)",
                [
                    (
                        order_id,
                        amount,
                        reason,
                        (now - timedelta(days=days)).isoformat("T", "seconds"),
                    )
                    for order_id, amount, reason, days in REFUNDS
                ],
            )

    def query(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run one read-only statement: its column names and rows."""
        with closing(sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)) as connection:
            cursor = connection.execute(sql)
            rows = cursor.fetchall()
            return [column[0] for column in cursor.description], rows

    def table(self, name: str) -> list[dict[str, Any]]:
        """Every row of `orders` or `refunds` as dicts."""
        if name not in ("orders", "refunds"):
            raise ValueError(f"Unknown table {name!r}.")
        columns, rows = self.query(f"SELECT * FROM {name} ORDER BY 1")
        return [dict(zip(columns, row, strict=True)) for row in rows]
