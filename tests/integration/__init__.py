"""The integration layer: the real server, the emulator over HTTP, PostgreSQL, Model Serving."""
