"""LangChain tools the agents can call, and which of them need a person's approval."""
