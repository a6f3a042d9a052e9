"""Containers started before their shard: a long-lived node keeps one ready for each kind of
container it ran recently, so a shard does not wait for Docker's create and start (~0.3 s here).

A ready container is hardened and started like any other (container.py); its runner waits on
its own FIFOs for a job (runner/stream.go's C frame) and has run nothing yet. It serves one shard
only: the shard that takes it sends the job, and removes it when done, as it would a container it
started itself. What a container is made of is fixed when it is created (image, limits, mounts,
labels, cgroup), so a shard takes one only when its Recipe is the same. Ready containers are
made in threads (docker-py blocks), outside any shard's trio run: a cluster node runs each
shard task in a trio run of its own.

A ready container nobody takes is removed after MAX_AGE; its runner exits by itself after IDLE
(the node was killed), and the next start of the same owner removes what is left (POOL_LABEL).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import docker
import trio

from codsh.core.spec import Limits
from codsh.errors import InfrastructureError
from codsh.executor import cgroup
from codsh.executor.container import JOB_LABEL, ShardContainer, remove_leftovers
from codsh.executor.streams import ContainerStreams, make_streams

POOL_LABEL = "org.codsh.pool"  # which pool made a ready container: its start removes leftovers
TAG = "c"  # a ready container's streams: one container per scratch folder
MAX_AGE = 600.0  # seconds a ready container waits for a shard before it is replaced
IDLE = 900  # seconds its runner waits for a job before it exits (the pool is gone)
RECIPES = 4  # how many kinds of container a pool keeps ready


@dataclass(frozen=True)
class Recipe:
    """What a container is made of: two shards can share a ready one when theirs are equal."""

    image_id: str
    limits: Limits
    scratch_root: Path | None  # None: the system's temp folder
    labels: tuple[tuple[str, str], ...] = ()
    mounts: tuple[tuple[str, str], ...] = ()
    cgroups: bool = False  # under a cgroup of its own, which meters it (executor/cgroup.py)

    @staticmethod
    def of(
        image_id: str,
        limits: Limits,
        scratch_root: Path | None,
        labels: Mapping[str, str] | None = None,
        mounts: Mapping[str, str] | None = None,
        cgroups: bool = False,
    ) -> Recipe:
        pairs = tuple(sorted((labels or {}).items())), tuple(sorted((mounts or {}).items()))
        return Recipe(image_id, limits, scratch_root, *pairs, cgroups)

    def with_labels(self, extra: Mapping[str, str]) -> Recipe:
        """The same container, with `extra` labels too."""
        return replace(self, labels=tuple(sorted((dict(self.labels) | dict(extra)).items())))


class Ready:
    """One started container with its scratch folder, FIFOs and cgroup, waiting for a job."""

    def __init__(self, engine: docker.DockerClient, recipe: Recipe, idle: int = 0) -> None:
        """Make and start it (blocking: call in a thread); `idle`: seconds its runner waits
        for a job before it exits (0: as long as this process holds its streams)."""
        self.scratch = Path(tempfile.mkdtemp(prefix="codsh-shard-", dir=recipe.scratch_root))
        self.group = cgroup.ShardCgroup() if recipe.cgroups else None
        self.made = time.monotonic()
        self._fds: tuple[int, int] | None = None
        try:
            self.scratch.chmod(0o700)  # the node's user only: the runner opens the FIFOs as root
            self._fds = make_streams(self.scratch, TAG)
            self.container = ShardContainer(
                engine,
                recipe.image_id,
                recipe.limits,
                self.scratch,
                dict(recipe.labels),
                dict(recipe.mounts),
                self.group.parent if self.group else None,
            )
            self.container.start_sync(TAG, idle)
        except BaseException:
            self.discard()
            raise

    def streams(self) -> ContainerStreams:
        """Its streams, for the trio run of the shard that took it (which closes them)."""
        assert self._fds is not None
        fds, self._fds = self._fds, None
        return ContainerStreams(self.scratch, TAG, fds)

    def discard(self) -> None:
        """Remove the container, its streams, scratch folder and cgroup (blocking)."""
        with contextlib.suppress(AttributeError):
            self.container.remove_sync()
        for fd in self._fds or ():
            os.close(fd)
        self._fds = None
        shutil.rmtree(self.scratch, ignore_errors=True)
        if self.group is not None:
            self.group.remove()

    async def adiscard(self) -> None:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(self.discard)


class WarmPool:
    """Ready containers for the recipes run recently: `depth` each (a node's slots), RECIPES."""

    def __init__(self, engine: docker.DockerClient, owner: str, depth: int = 1) -> None:
        self.engine = engine
        self.owner = owner  # stable across restarts: its start removes what a killed run left
        self.depth = depth
        self._ready: OrderedDict[Recipe, list[Ready]] = OrderedDict()
        self._making: dict[Recipe, int] = {}
        self._lock = threading.Lock()
        self._closed = False
        # imported here: its import registers an atexit hook, which fails in a job that is still
        # starting when its interpreter exits (an SDK job in a script that ended); no pool there
        from concurrent.futures import ThreadPoolExecutor

        self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="codsh-warm")
        remove_leftovers(engine, POOL_LABEL, owner)

    def labelled(self, recipe: Recipe) -> Recipe:
        """`recipe` as this pool makes it: its containers carry the pool's label."""
        return recipe.with_labels({POOL_LABEL: self.owner})

    def take(self, recipe: Recipe) -> Ready | None:
        """A ready container made to `recipe` (None: none yet), running and not older than
        MAX_AGE (any other is removed); another is made for the next shard."""
        recipe = self.labelled(recipe)
        taken: Ready | None = None
        while taken is None and (candidate := self._next(recipe)) is not None:
            fresh = time.monotonic() - candidate.made < MAX_AGE
            if fresh and candidate.container.running():
                taken = candidate
            else:
                candidate.discard()
        self._refill(recipe)
        return taken

    def _next(self, recipe: Recipe) -> Ready | None:
        with self._lock:
            ready = self._ready.get(recipe)
            if not ready:
                return None
            self._ready.move_to_end(recipe)
            return ready.pop(0)

    def _refill(self, recipe: Recipe) -> None:
        """Make as many as `recipe` lacks of `depth` (ready, or being made)."""
        with self._lock:
            have = len(self._ready.get(recipe, [])) + self._making.get(recipe, 0)
            lacking = 0 if self._closed else max(0, self.depth - have)
            self._making[recipe] = self._making.get(recipe, 0) + lacking
        for _ in range(lacking):
            try:
                self._threads.submit(self._make, recipe)
            except RuntimeError:  # closed meanwhile: it makes no more
                with self._lock:
                    self._making[recipe] -= 1

    def _make(self, recipe: Recipe) -> None:
        try:
            made: Ready | None = Ready(self.engine, recipe, IDLE)
        except Exception:  # the shard that asks next starts its own, and says what failed
            made = None
        evicted: list[Ready] = []
        with self._lock:
            self._making[recipe] -= 1
            if made is not None and not self._closed:
                self._ready.setdefault(recipe, []).append(made)
                self._ready.move_to_end(recipe)
                made = None
                while len(self._ready) > RECIPES:
                    evicted += self._ready.popitem(last=False)[1]
        for ready in [*evicted, *([made] if made else [])]:
            ready.discard()

    def discard_later(self, ready: Ready) -> bool:
        """Remove `ready` in this pool's threads, so that the shard that used it answers without
        waiting ~0.1-0.3 s for its removal; False when the pool is closed (remove it now)."""
        try:
            self._threads.submit(ready.discard)
        except RuntimeError:  # shut down: close() waits for the removals submitted before it
            return False
        return True

    def waiting(self) -> int:
        """How many ready containers wait for a shard now."""
        with self._lock:
            return sum(len(kept) for kept in self._ready.values())

    def close(self) -> None:
        """Remove every ready container (blocking), and make no more."""
        with self._lock:
            self._closed = True
        self._threads.shutdown(wait=True)
        with self._lock:
            left = [ready for kept in self._ready.values() for ready in kept]
            self._ready.clear()
        for ready in left:
            ready.discard()


async def take_or_start(
    pool: WarmPool | None, engine: docker.DockerClient, recipe: Recipe, labels: Mapping[str, str]
) -> Ready:
    """A ready container from `pool` when it has one, else one started now for this shard
    (with `labels` too: e.g. its job's, which a pool's containers cannot carry)."""
    if pool is not None:
        ready = await trio.to_thread.run_sync(pool.take, recipe)
        if ready is not None:
            try:
                if JOB_LABEL in labels:  # found by its job as a container started for it is
                    await trio.to_thread.run_sync(ready.container.claim, labels[JOB_LABEL])
                return ready
            except InfrastructureError:  # e.g. removed meanwhile: this shard starts its own
                await ready.adiscard()
    return await trio.to_thread.run_sync(Ready, engine, recipe.with_labels(labels))
