"""A thin async client for kubo's RPC API (client.py), its multipart encoder, sources and sinks.

Nothing is imported here: `codsh.ipfs.address` must stay cheap for commands that never talk to kubo.
"""
