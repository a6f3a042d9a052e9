"""`pip download` for the node platform against the real PyPI: wheels found, and clear failures."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from codsh.errors import InputError
from codsh.functions.wheels import download_wheels, wheelhouse_complete
from codsh.images.python import PipTarget

PILLOW = importlib.metadata.version("Pillow")  # the host's: outputs then match byte for byte


def test_pillow_resolves_to_a_manylinux_cp311_wheel(tmp_path: Path, target: PipTarget) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"Pillow=={PILLOW}\n")
    wheels = download_wheels(requirements, tmp_path / "wheels", target)
    assert [w.name.split("-")[:4] for w in wheels] == [["pillow", PILLOW, "cp311", "cp311"]]
    assert "manylinux" in wheels[0].name and wheels[0].name.endswith("x86_64.whl")
    assert wheelhouse_complete(requirements, tmp_path / "wheels", target)  # offline check
    requirements.write_text(f"Pillow=={PILLOW}\nsix\n")
    assert not wheelhouse_complete(requirements, tmp_path / "wheels", target)


def test_a_requirement_that_does_not_exist_is_named(tmp_path: Path, target: PipTarget) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("six\ncodsh-no-such-package-zzz==1.0\n")
    with pytest.raises(InputError) as caught:
        download_wheels(requirements, tmp_path / "wheels", target)
    message = caught.value.message
    assert "'codsh-no-such-package-zzz==1.0'" in message
    assert "no such package on the package index" in message
    assert "check the name and version" in caught.value.hint


def test_a_version_with_only_an_sdist_says_no_wheel(tmp_path: Path, target: PipTarget) -> None:
    """docopt 0.6.2 (every docopt release) is published as a source archive only."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("docopt==0.6.2\n")
    with pytest.raises(InputError) as caught:
        download_wheels(requirements, tmp_path / "wheels", target)
    message = caught.value.message
    assert "'docopt==0.6.2'" in message
    assert "the package exists (versions 0.6.2" in message
    assert "none matching the requirement has a wheel for the node platform" in message
    assert "CPython 3.11 (ABI cp311) on manylinux_2_36_x86_64" in message
    assert "pure-Python ones, are not built on the nodes" in caught.value.hint


def test_no_requirements_means_no_pip(tmp_path: Path) -> None:
    """Comments and options only: nothing to fetch, so nothing runs (this target is bogus)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# nothing yet\n--pre\n")
    bogus = PipTarget("0.0", "none", ())
    assert download_wheels(requirements, tmp_path / "wheels", bogus) == []
    assert wheelhouse_complete(requirements, tmp_path / "missing", bogus)
