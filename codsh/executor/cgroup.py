"""A shard's own cgroup: every container of the shard runs under it (docker's `cgroup_parent`), so
its counters cover the runner, the command and whatever the command left behind, and outlive each
container (a container replaced after a timeout is still counted).

Per file, the host reads the CPU counter when the file starts and when its status line arrives
(files of a shard run one at a time, so the difference is that file's), and resets the memory
high-water mark at the start of each file. cgroup v1 (cpuacct.usage, memory.max_usage_in_bytes)
and v2 (cpu.stat usage_usec, memory.peak, reset per open file since Linux 6.12) are read alike.
When the cgroup is not visible on this host (a remote or rootless engine, the systemd cgroup
driver) there is none, and the runner's rusage of each file is used instead.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "codsh"  # every shard's cgroup is /codsh/<shard> in each hierarchy


def parse_cpu_stat(text: str) -> float:
    """CPU seconds from a v2 cpu.stat (its usage_usec line)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value) / 1e6
    raise ValueError("cpu.stat has no usage_usec line")


class ShardCgroup:
    """The cgroup of one shard: `parent` is what docker's cgroup_parent gets."""

    def __init__(self, root: Path = ROOT, name: str | None = None) -> None:
        self.root = root
        self.parent = f"/{PARENT}/{name or 'shard-' + uuid.uuid4().hex[:16]}"
        self.v2 = (root / "cgroup.controllers").exists()
        # counter files, opened once (when the first container has made the cgroup) and read
        # with pread: ~1 µs a read against ~10 µs and more for an open and a read each file
        self._fds: dict[str, int] = {}

    def _dir(self, controller: str) -> Path:
        relative = self.parent.lstrip("/")
        return self.root / relative if self.v2 else self.root / controller / relative

    def _read(self, controller: str, name: str) -> str:
        return os.pread(self._fd(controller, name), 4096, 0).decode()

    def _fd(self, controller: str, name: str) -> int:
        if name not in self._fds:
            self._fds[name] = os.open(self._dir(controller) / name, os.O_RDWR)
        return self._fds[name]

    def cpu_seconds(self) -> float | None:
        """CPU time used under this cgroup so far (None: not visible here)."""
        try:
            if self.v2:
                return parse_cpu_stat(self._read("cpu", "cpu.stat"))
            return int(self._read("cpuacct", "cpuacct.usage")) / 1e9
        except (OSError, ValueError):
            return None

    def reset_peak(self) -> None:
        """Start a new memory high-water mark (the next file's)."""
        with contextlib.suppress(OSError):
            if self.v2:
                os.write(self._fd("memory", "memory.peak"), b"reset\n")
            else:
                os.write(self._fd("memory", "memory.max_usage_in_bytes"), b"0")

    def peak_memory(self) -> int | None:
        """The memory high-water mark since the last reset, in bytes (None: not visible)."""
        try:
            if not self.v2:
                return int(self._read("memory", "memory.max_usage_in_bytes"))
            if "memory.peak" not in self._fds:
                return None  # v2 without a reset: the whole shard's peak, not the file's
            return int(self._read("memory", "memory.peak"))
        except (OSError, ValueError):
            return None

    def remove(self) -> None:
        """Remove the shard's cgroup from every hierarchy (once its containers are gone)."""
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        relative = self.parent.lstrip("/")
        places = [self.root / relative] if self.v2 else self.root.glob(f"*/{relative}")
        for place in places:
            with contextlib.suppress(OSError):
                place.rmdir()


class ShardMeter:
    """What each file of a shard used, from the shard's cgroup when it is visible, else from the
    runner's rusage of the file (its processes only: not the runner's cleanup after it)."""

    def __init__(self, cgroup: ShardCgroup | None) -> None:
        self.cgroup = cgroup
        self._mark = 0.0  # the cgroup's CPU counter when the current file started (0: a new one)

    def file_started(self) -> None:
        if self.cgroup is not None:
            self.cgroup.reset_peak()

    def file_ended(self, cpu_fallback: float, rss_fallback: int) -> tuple[float, int]:
        """The file's CPU seconds and peak memory in bytes; the next file starts now."""
        if self.cgroup is None:
            return cpu_fallback, rss_fallback
        now = self.cgroup.cpu_seconds()
        peak = self.cgroup.peak_memory()
        cpu = cpu_fallback if now is None else max(now - self._mark, 0.0)
        if now is not None:
            self._mark = now
        return round(cpu, 6), rss_fallback if peak is None else max(peak, rss_fallback)


def usable(info: dict[str, object], docker_host: str | None, root: Path = ROOT) -> bool:
    """Whether a shard cgroup can be made and read here: a local engine using the cgroupfs driver
    (the systemd driver takes only `*.slice` parents, a remote engine's cgroups are elsewhere)."""
    local = not docker_host or docker_host.startswith("unix://")
    return local and info.get("CgroupDriver") == "cgroupfs" and root.is_dir() and os.geteuid() == 0
