"""kubo's keystore and IPNS calls (key/gen, key/list, name/publish, name/resolve), beside
client.py so its one transport and error mapping serve them too (every RPC call is a POST).

Measured on kubo 0.42 over RPC, two nodes of a private swarm on loopback: key/gen ~2 ms,
name/publish 5-13 ms, name/resolve from the other node 2-4 ms (the `ipfs` CLI adds ~50 ms each).
"""

from __future__ import annotations

from codsh.ipfs.client import KuboClient

TTL = "1m"  # how long a resolver may cache the record: a new output is seen within a minute
RESOLVE_TIMEOUT = "30s"  # how long a resolve may look for the record in the DHT


async def key_list(ipfs: KuboClient) -> dict[str, str]:
    """The node's keys: name -> IPNS name (the key's ID, base36 `k51...`)."""
    result = await ipfs._json("key/list", {"l": "true", "ipns-base": "base36"})
    return {key["Name"]: key["Id"] for key in (result or {}).get("Keys") or []}


async def key_gen(ipfs: KuboClient, name: str) -> str:
    """A new ed25519 key called `name`; returns its IPNS name."""
    result = await ipfs._json("key/gen", {"arg": name, "type": "ed25519", "ipns-base": "base36"})
    return str(result["Id"])


async def name_publish(ipfs: KuboClient, key: str, cid: str, ttl: str = TTL) -> str:
    """Point key `key`'s IPNS name at /ipfs/`cid`; returns the IPNS name. `allow-offline`: a
    lone node (no routing, no peers) keeps the record and republishes it when it has peers."""
    params = {"arg": f"/ipfs/{cid}", "key": key, "ttl": ttl, "resolve": "false"}
    params |= {"allow-offline": "true", "ipns-base": "base36"}
    result = await ipfs._json("name/publish", params)
    return str(result["Name"])


async def name_resolve(ipfs: KuboClient, name: str, timeout: str = RESOLVE_TIMEOUT) -> str:
    """The /ipfs/ path that /ipns/`name` points to now (not a cached answer: a nightly job's
    reader wants the newest output)."""
    params = {"arg": f"/ipns/{name}", "recursive": "true", "nocache": "true"}
    params["dht-timeout"] = timeout
    result = await ipfs._json("name/resolve", params)
    return str(result["Path"])
