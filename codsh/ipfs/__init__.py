"""A thin async client for kubo's RPC API, and the UnixFS/dag-pb encoding codsh merges with."""

from codsh.ipfs.client import AddResult, Entry, KuboClient, KuboError, KuboUnavailable

__all__ = ["AddResult", "Entry", "KuboClient", "KuboError", "KuboUnavailable"]
