"""The approval protocol's vocabulary: what a graph shows a person and what it accepts back.

- `shapes`: the typed request, decision and review shapes (langchain's `HumanInTheLoopMiddleware`
  shape plus signoff's fields), and the args digest an approval is bound to.
- `grammar`: every decision, its words and its Agent Inbox type; the one answer grammar.
- `parsing`: any answer (langchain decision, Agent Inbox response, plain words) to `Decision`.
- `bounds`: the size and depth limits every value crossing a boundary is held to.
- `interrupts`: reading the requests out of a paused thread's interrupts.
- `versions`: requests raised by another release: older shapes upgraded, newer ones refused.

Pure data and functions: nothing here imports the rest of signoff.
"""
