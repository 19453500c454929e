"""Asking a person from inside a graph node, and recording how the request ends.

- `ask`: `ask_for_decisions`, the one place a graph pauses for a person.
- `outcome`: the state every single-action graph shares (requester, status, audit) and how a
  request starts and ends.
- `reviewed_agent`: the tool-calling agent whose sensitive tool calls pause for review.
- `agent_context`: the agents' runtime context (model endpoint, system prompt, deadlines).
"""
