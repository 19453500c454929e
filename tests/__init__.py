"""signoff test suite: unit tests in-process, graph tests through a real `langgraph dev`."""
