"""The fast layer: graphs in process, in seconds (`make unit`)."""
