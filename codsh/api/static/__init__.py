"""The orchestrator's web page: its HTML (rendered on the server) and its script and style,
as Python strings, so nothing is built and nothing is fetched from elsewhere."""
