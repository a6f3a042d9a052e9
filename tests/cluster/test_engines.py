"""A devstack whose nodes have Docker engines of their own (issue 13): like separate machines,
they lack the job image at first and load it from IPFS by content; the job's output equals a
one-node run's. The real CLI through the devstack's orchestrator, real dockerd per node."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import docker
import PIL

from codsh import engines
from tests.commands.cli import add, cat, codsh, write_tree
from tests.commands.test_function_cli import PROCESS, local_downscale, noise_image

LISBON = "sed -n '/38.7[2-4]....,-9.1[3-5]..../p'"


def test_nodes_with_their_own_engines_load_the_image_by_content(
    tmp_path: Path, engine: docker.DockerClient
) -> None:
    bridge = Path("/sys/class/net/docker0")
    had_bridge = bridge.exists()  # this machine's engine's: the node engines must leave it be
    env = {k: v for k, v in os.environ.items() if k != "CODSH_IPFS"}
    env["CODSH_HOME"] = str(tmp_path / "home")
    env["IPFS_PATH"] = str(tmp_path / "no-user-kubo")
    try:
        up = codsh("devstack", "up", "--nodes", "2", "--engines", "2", env=env, timeout=300)
        assert up.code == 0, up.err
        sockets = sorted((tmp_path / "home").rglob("docker.sock"))
        assert len(sockets) == 2
        for socket in sockets:  # an engine of its own, without the job images
            own = docker.DockerClient(base_url=f"unix://{socket}")
            assert own.info()["DockerRootDir"] != engine.info()["DockerRootDir"]
            assert not [i for i in own.images.list() if "codsh/busybox:latest" in i.tags]
            own.close()
        exports = codsh("devstack", "env", env=env).out.decode()
        api = {**env, **dict(re.findall(r"export (\w+)=(\S+)", exports))}
        lines = "".join(f"2016-01-01,38.73{i}946,-9.14{i}685,{i}\n" for i in range(6))
        tree = {f"f{i}.log": lines.encode() for i in range(4)}
        source = add(env, write_tree(tmp_path / "in", tree))
        ran = codsh("run", "-e", LISBON, "-c", source, "--json", env=api, timeout=300)
        assert ran.code == 0, ran.err
        record = json.loads(ran.out)
        assert cat(env, f"{record['output']}/f0.log") == lines.encode()
        manifest = json.loads(cat(env, record["manifest"]))
        assert manifest["spec"]["image_cid"]
        loaded = {s["node"] for s in manifest["setup"] if s["built"]}
        assert loaded  # every node that ran a shard loaded the image first
        assert all(s["environment"].startswith("image ") for s in manifest["setup"])
        again = codsh("run", "-e", LISBON, "-c", source, "--no-memo", "--json", env=api)
        assert again.code == 0, again.err
        setup = json.loads(cat(env, json.loads(again.out)["manifest"]))["setup"]
        assert not any(s["built"] for s in setup)  # already there
        assert all(s["seconds"] >= 0 and s["node"] for s in setup)  # per node, timed
        assert all(s["seconds"] > 0 for s in manifest["setup"] if s["built"])
        # a Python (Pillow) job: the nodes' engines never saw codsh/python; they load it by
        # content, build the environment, and give what the function gives here
        project = tmp_path / "project"
        project.mkdir()
        (project / "process.py").write_text(PROCESS)
        (project / "requirements.txt").write_text(f"Pillow=={PIL.__version__}\n")
        frames = tmp_path / "frames"
        frames.mkdir()
        for seed in range(2):
            noise_image(120, 90, seed).save(frames / f"frame-{seed}.png")
        pictures = add(env, frames)
        fn = ["-f", str(project / "process.py"), "-r", str(project / "requirements.txt")]
        py = codsh("run", *fn, "--fn", "downscale", "-c", pictures, "--json", env=api, timeout=600)
        assert py.code == 0, py.err
        done = json.loads(py.out)
        for seed in range(2):
            data = (frames / f"frame-{seed}.png").read_bytes()
            assert cat(env, f"{done['output']}/frame-{seed}.png") == local_downscale(data)
        py_setup = json.loads(cat(env, done["manifest"]))["setup"]
        assert py_setup and all(s["image"] and s["image_loaded"] for s in py_setup), py_setup
        assert all(s["image_seconds"] > 0 and s["built"] for s in py_setup)
        # a node whose engine is down takes no shard: the other runs the whole job (each
        # node holds half of the files: before, the node took its half and failed it)
        spread = codsh("devstack", "add", "--spread", "1", str(tmp_path / "in"), env=env)
        assert spread.code == 0 and spread.cid == source, spread.err
        assert engines.stop(sockets[1].parent.parent)
        down = sockets[1].parent.parent.name
        lone = codsh("run", "-e", LISBON, "-c", source, "--no-memo", "--json", env=api)
        assert lone.code == 0, lone.err
        job = json.loads(lone.out)["job"]
        described = json.loads(codsh("job", "describe", job, "--json", env=api).out)
        placement = described["placement"]
        assert down not in placement["shards_per_node"] and placement["rescheduled"] == 0, placement
        assert json.loads(lone.out)["output"] == record["output"]
    finally:
        down = codsh("devstack", "down", "--purge", env=env, timeout=180)
    assert down.code == 0, down.err
    assert not list((tmp_path / "home").rglob("docker.sock"))
    assert bridge.exists() == had_bridge  # a dockerd without a bridge deletes docker0 if it can
