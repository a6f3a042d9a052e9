"""`codsh job submit -f process.py -r requirements.txt`: scenario 2 of the design, end to end.

Real images made here, a real Pillow wheel from PyPI resolved for the nodes' interpreter, an
environment built offline on the node and reused by the next job, the hardened container.
"""

from __future__ import annotations

import io
import json
import random
import textwrap
from pathlib import Path

import PIL
import pytest
from PIL import Image

from tests.commands.cli import add, assert_usage_error, cat, codsh, fetch

LIMIT = 1_000_000  # bytes: each output must be under it
PROCESS = textwrap.dedent(
    """
    import io
    from PIL import Image

    def downscale(infile):
        image = Image.open(infile)
        image.load()
        gray = image.convert("L")
        gray.thumbnail((800, 800))
        out = io.BytesIO()
        gray.save(out, format="PNG", optimize=True)
        return out.getvalue()

    def picky(infile):
        data = infile.read()
        if data.startswith(b"II*"):  # a TIFF
            raise ValueError("no TIFF today")
        return downscale(io.BytesIO(data))

    def forever(infile):
        while True:
            pass

    def phone_home(infile):
        import urllib.request
        return urllib.request.urlopen("http://pypi.org", timeout=5).read()
    """
)


def noise_image(width: int, height: int, seed: int) -> Image.Image:
    rng = random.Random(seed)
    return Image.frombytes("RGB", (width, height), rng.randbytes(width * height * 3))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three satellite-like frames of several MB each: two PNG, one TIFF (incompressible noise)."""
    root = tmp_path_factory.mktemp("frames")
    noise_image(1400, 1000, 1).save(root / "frame-001.png")
    noise_image(1200, 1100, 2).save(root / "frame-002.png")
    noise_image(1300, 1000, 3).save(root / "frame-003.tiff")
    assert all(p.stat().st_size > 3_000_000 for p in root.iterdir())
    return root


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "process.py").write_text(PROCESS)
    (root / "requirements.txt").write_text(f"Pillow=={PIL.__version__}\n")
    return root


def local_downscale(data: bytes) -> bytes:
    namespace: dict[str, object] = {}
    exec(PROCESS, namespace)
    downscale = namespace["downscale"]
    assert callable(downscale)
    result = downscale(io.BytesIO(data))
    assert isinstance(result, bytes)
    return result


def submit(env: dict[str, str], project: Path, data: str, *extra: str) -> tuple[int, dict]:
    result = codsh(
        "job",
        "submit",
        "-f",
        str(project / "process.py"),
        "-r",
        str(project / "requirements.txt"),
        "-c",
        data,
        "--json",
        *extra,
        env=env,
        timeout=600,
    )
    assert result.code in (0, 1), result.err
    return result.code, json.loads(result.out)


def test_scenario_2_downscale_with_pillow_from_a_real_wheel(
    env: dict[str, str], tmp_path: Path, images: Path, project: Path
) -> None:
    data = add(env, images)
    code, record = submit(env, project, data, "--fn", "downscale")
    assert code == 0, record["failures"]
    assert record["spec"]["kind"] == "python" and record["spec"]["image"] == "codsh/python:latest"
    outputs = fetch(env, record["output"], tmp_path / "out")
    assert set(outputs) == {p.name for p in images.iterdir()}
    for name, output in outputs.items():
        assert output is not None and len(output) < LIMIT
        image = Image.open(io.BytesIO(output))
        assert image.mode == "L" and max(image.size) == 800
        assert output == local_downscale((images / name).read_bytes()), name
    manifest = json.loads(cat(env, record["manifest"]))
    assert [s["built"] for s in manifest["setup"]] == [True]

    # the same requirements again (the memo off, so files do run): no environment is built
    code, again = submit(env, project, data, "--fn", "downscale", "--no-memo")
    assert code == 0 and again["output"] == record["output"]
    setup = json.loads(cat(env, again["manifest"]))["setup"]
    assert [s["built"] for s in setup] == [False]
    assert setup[0]["environment"] == manifest["setup"][0]["environment"]


def test_an_exception_fails_that_file_with_its_traceback_and_the_rest_is_kept(
    env: dict[str, str], tmp_path: Path, images: Path, project: Path
) -> None:
    code, record = submit(env, project, add(env, images), "--fn", "picky")
    assert code == 1
    assert [f["path"] for f in record["failures"]] == ["frame-003.tiff"]
    assert "ValueError: no TIFF today" in record["failures"][0]["stderr"]
    assert "Traceback" in record["failures"][0]["stderr"]
    outputs = fetch(env, record["output"], tmp_path / "out")
    assert outputs["frame-001.png"] and outputs["frame-003.tiff"] == b""


def test_a_function_that_never_returns_times_out(
    env: dict[str, str], tmp_path: Path, project: Path
) -> None:
    data = add(env, tmp_path / "in", {"a.txt": b"x\n", "b.txt": b"y\n"})
    code, record = submit(env, project, data, "--fn", "forever", "--timeout", "3")
    assert code == 1 and record["failed"] == 2
    assert all("timed out after 3s" in f["error"] for f in record["failures"])


def test_a_function_that_tries_the_network_fails_clearly(
    env: dict[str, str], tmp_path: Path, project: Path
) -> None:
    data = add(env, tmp_path / "in", {"a.txt": b"x\n"})
    code, record = submit(env, project, data, "--fn", "phone_home")
    assert code == 1
    stderr = record["failures"][0]["stderr"]
    assert "URLError" in stderr or "Network is unreachable" in stderr or "resolution" in stderr


def test_a_requirement_that_does_not_exist(
    env: dict[str, str], tmp_path: Path, project: Path
) -> None:
    (tmp_path / "requirements.txt").write_text("codsh-no-such-package-zzz==1.0\n")
    data = add(env, tmp_path / "in", {"a.txt": b"x\n"})
    result = codsh(
        "run",
        "-f",
        str(project / "process.py"),
        "--fn",
        "downscale",
        "-r",
        str(tmp_path / "requirements.txt"),
        "-c",
        data,
        env=env,
        timeout=300,
    )
    assert_usage_error(result, "codsh-no-such-package-zzz")


def test_a_script_with_a_syntax_error_or_without_the_function(
    env: dict[str, str], tmp_path: Path
) -> None:
    data = add(env, tmp_path / "in", {"a.txt": b"x\n"})
    broken = tmp_path / "broken.py"
    broken.write_text("def main(infile)\n    return infile.read()\n")
    assert_usage_error(codsh("run", "-f", str(broken), "-c", data, env=env), "broken.py:1")
    fine = tmp_path / "fine.py"
    fine.write_text("def upper(infile):\n    return infile.read().upper()\n")
    assert_usage_error(codsh("run", "-f", str(fine), "--fn", "lower", "-c", data, env=env), "upper")


def test_a_packed_bundle_runs_by_cid(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "codsh.toml").write_text('[function]\nscript = "up.py"\nname = "up"\n')
    (folder / "up.py").write_text(
        "def up(infile):\n    for line in infile:\n        yield line.upper()\n"
    )
    packed = codsh("fn", "pack", str(folder), env=env)
    assert packed.code == 0, packed.err
    assert codsh("fn", "pack", str(folder), env=env).cid == packed.cid  # same folder, same CID
    data = add(env, tmp_path / "in", {"a.txt": b"rain\nsun\n"})
    result = codsh("run", "-x", packed.cid, "-c", data, "--concat", env=env)
    assert result.code == 0, result.err
    assert cat(env, result.cid) == b"RAIN\nSUN\n"
    assert_usage_error(codsh("run", "-x", data, "-c", data, env=env), "codsh.toml")


def test_requirements_without_a_script(env: dict[str, str], tmp_path: Path) -> None:
    data = add(env, tmp_path / "in", {"a.txt": b"x\n"})
    (tmp_path / "requirements.txt").write_text("Pillow\n")
    result = codsh(
        "run", "-e", "cat", "-r", str(tmp_path / "requirements.txt"), "-c", data, env=env
    )
    assert_usage_error(result, "-r goes with -f")
