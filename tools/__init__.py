"""LangChain tools the agents call: Databricks jobs, Genie and Unity Catalog functions.

Which of them pause for a person is set in `signoff.toml` (`[review]`), not here.
"""
