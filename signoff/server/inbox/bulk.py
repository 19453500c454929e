"""Deciding several requests at once from the inbox's list: "Approve selected" and "Reject
selected", with one optional reason for all of them.

The list posts the requests checked (each as `<thread_id>/<request_id>/<args_digest>`, at
most `MAX_SELECTED`). Each is then answered on its own, exactly as its own page answers it: its
own answer, carrying the digest of the arguments its row showed (so it approves those or
nothing), checked by the policy and sent to the API as the signed-in user, so the server's auth
and the review node decide it and its audit entry is its own. A refusal (the policy's, the
server's, or a request decided meanwhile by someone else) is that request's outcome and stops
none of the others; the page then lists what was decided, and what was not and why.
Threads are answered a few at a time (`AT_ONCE`); requests of one thread one after another.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Literal

import httpx

from signoff.client.answering import Refused

MAX_SELECTED = 100
"""The most requests one form may decide."""
REQUEST_ID_CHARACTERS = 200
"""The longest request id a selection may name (ids are UUIDs)."""
_DIGEST = re.compile(r"[0-9a-f]{64}")
AT_ONCE = 4
"""How many threads are answered at the same time."""
BulkDecision = Literal["approve", "reject"]
BULK_DECISIONS: tuple[BulkDecision, ...] = ("approve", "reject")
DONE = {"approve": "approved", "reject": "rejected"}


@dataclass(frozen=True)
class Selected:
    """One request checked in the list."""

    thread_id: str
    request_id: str
    args_digest: str
    """The digest of the arguments the list showed for it."""


@dataclass(frozen=True)
class Outcome:
    """What came of deciding one selected request."""

    selected: Selected
    label: str
    """The request as the page names it: its summary if it was in the user's list, else its
    ids (so nothing is shown of a request they may not see)."""
    refusal: str | None
    """Why it was not decided (the policy's or the server's words); `None` when it was."""


@dataclass(frozen=True)
class BulkResult:
    """The outcome of one "Approve selected" or "Reject selected"."""

    decision: BulkDecision
    outcomes: list[Outcome]

    @property
    def decided(self) -> list[Outcome]:
        """The requests answered, in the order selected."""
        return [outcome for outcome in self.outcomes if outcome.refusal is None]

    @property
    def refused(self) -> list[Outcome]:
        """The requests not answered, with why."""
        return [outcome for outcome in self.outcomes if outcome.refusal is not None]

    @property
    def done(self) -> str:
        """What was done to those decided: `approved` or `rejected`."""
        return DONE[self.decision]

    @property
    def headline(self) -> str:
        """E.g. `Approved 2 of 3 selected requests.`"""
        total = len(self.outcomes)
        noun = "request" if total == 1 else "requests"
        return f"{self.done.capitalize()} {len(self.decided)} of {total} selected {noun}."


def selection(decision: str, values: Sequence[str]) -> tuple[BulkDecision, list[Selected]]:
    """The decision and the requests a list form posted, each once, in order. `Refused` (400),
    and nothing is decided, for another decision, no request, more than `MAX_SELECTED`, or a
    value that is not a thread id and a request id."""
    if decision not in BULK_DECISIONS:
        raise Refused(
            f"{decision!r} cannot be given to several requests at once: choose "
            "Approve selected or Reject selected.",
            400,
        )
    if not values:
        raise Refused(f"No request was selected: check the requests to {decision} first.", 400)
    if len(values) > MAX_SELECTED:
        raise Refused(
            f"{len(values)} requests were selected: decide at most {MAX_SELECTED} at once "
            "(select fewer, or filter the list).",
            400,
        )
    return decision, list(dict.fromkeys(_selected(value) for value in values))


def _selected(value: str) -> Selected:
    thread, _, rest = value.partition("/")
    request_id, _, args_digest = rest.partition("/")
    try:
        thread_id = str(uuid.UUID(thread))
    except ValueError:
        thread_id = ""
    if (
        not thread_id
        or not request_id
        or len(request_id) > REQUEST_ID_CHARACTERS
        or not _DIGEST.fullmatch(args_digest)
    ):
        shown = value[:80]
        raise Refused(
            f"{shown!r} does not name a request of this inbox (a thread id, a request id and "
            "the digest of its arguments, separated by '/'): reload the list and select again.",
            400,
        )
    return Selected(thread_id, request_id, args_digest)


async def decide_each(
    selected: Sequence[Selected],
    decide: Callable[[Selected], Awaitable[None]],
    label: Callable[[Selected], str],
) -> list[Outcome]:
    """`decide` every request of `selected` (it raises `Refused` for one it may not), each
    thread's requests in order, `AT_ONCE` threads at a time; the outcomes in the order
    selected. A refusal, or a failure of the server on one request, stops no other."""
    slots = asyncio.Semaphore(AT_ONCE)
    refusals: dict[Selected, str | None] = {}

    async def thread(requests: list[Selected]) -> None:
        async with slots:
            for request in requests:
                refusals[request] = await _refusal(decide, request)

    by_thread = sorted(selected, key=lambda s: s.thread_id)
    await asyncio.gather(
        *(thread(list(group)) for _, group in groupby(by_thread, key=lambda s: s.thread_id))
    )
    return [Outcome(s, label(s), refusals[s]) for s in selected]


async def _refusal(decide: Callable[[Selected], Awaitable[None]], request: Selected) -> str | None:
    try:
        await decide(request)
    except Refused as refusal:
        return str(refusal)
    except httpx.HTTPError as failure:
        return f"The server failed while answering it ({failure}); try it again on its page."
    return None
