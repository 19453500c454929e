"""signoff's benchmarks: ratios against a baseline, measured side by side in the same run.

Run them with `make bench` (or `.venv/bin/python -m bench --help`). They are not tests: they
print tables (and save them as JSON under `bench/results/`) and assert nothing about time.

- `cycle`: one approval cycle in process, signoff vs a hand-written floor vs langchain's
  `HumanInTheLoopMiddleware`, on memory and PostgreSQL savers, with a profile of signoff;
- `server`: many pending approvals through a real `langgraph dev`, signoff vs a raw graph;
- `startup`: graph module import times and `langgraph dev` time to answer;
- `growth`: checkpoint bytes per approval cycle as one thread grows;
- `pending`: listing 10,000 pending requests from PostgreSQL through `signoff.checkpoints`, vs
  reading every thread's state.
"""

import sys
from pathlib import Path

_REPOSITORY = str(Path(__file__).resolve().parents[1])
if sys.path[:1] != [_REPOSITORY]:
    # The benchmarks reuse the repository's `tests.postgres` and `tests.langgraph_server`; an
    # installed distribution may ship a top-level `tests` package that would shadow them.
    sys.path.insert(0, _REPOSITORY)
