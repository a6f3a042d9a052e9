"""Pure checks of bundles, made before anything is submitted: manifest, script, requirements."""

from __future__ import annotations

from pathlib import Path

import pytest

from codsh.errors import InputError
from codsh.functions.bundle import (
    FunctionManifest,
    check_script,
    make_bundle,
    pack_directory,
    parse_manifest,
    render_manifest,
)
from codsh.functions.wheels import read_requirements
from codsh.images.python import PipTarget

TARGET = PipTarget("3.11", "cp311", ("manylinux_2_36_x86_64", "manylinux1_x86_64"))


def test_manifest_round_trips() -> None:
    for manifest in (
        FunctionManifest("process.py", "downscale"),
        FunctionManifest('lib/we "ird" ñ\t\x7f.py', "f"),
    ):
        assert parse_manifest(render_manifest(manifest)) == manifest
    assert render_manifest(FunctionManifest("process.py", "downscale")) == (
        '[function]\nscript = "process.py"\nname = "downscale"\n'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[function\n", "not valid TOML"),
        ('script = "p.py"\n', "no [function] table"),
        ('[function]\nname = "f"\n', "needs a string 'script'"),
        ('[function]\nscript = "p.py"\n', "needs a string 'name'"),
        ('[function]\nscript = "p.py"\nname = 3\n', "needs a string 'name'"),
        ('[function]\nscript = "../x.py"\nname = "f"\n', "relative path inside the bundle"),
        ('[function]\nscript = "/abs/x.py"\nname = "f"\n', "relative path inside the bundle"),
        ('[function]\nscript = "a//x.py"\nname = "f"\n', "relative path inside the bundle"),
        ('[function]\nscript = "x.sh"\nname = "f"\n', "not a .py file"),
        ('[function]\nscript = "x.py"\nname = "not-a-name"\n', "not a Python identifier"),
        (
            '[function]\nscript = "x.py"\nname = "f"\nnmae = "g"\n',
            "unknown key(s) in [function]: nmae",
        ),
    ],
)
def test_manifest_mistakes_are_explained(text: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_manifest(text)
    assert expected in caught.value.message
    assert caught.value.hint


def script(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "process.py"
    path.write_text(source)
    return path


def test_a_syntax_error_names_file_line_and_message(tmp_path: Path) -> None:
    path = script(tmp_path, "import io\n\ndef downscale(infile:\n    return b''\n")
    with pytest.raises(InputError) as caught:
        check_script(path, "downscale")
    assert caught.value.message.startswith("process.py:3: syntax error: ")
    assert "def downscale(infile:" in caught.value.message


def test_errors_only_the_compiler_finds_are_caught(tmp_path: Path) -> None:
    path = script(tmp_path, "def f(infile):\n    pass\nreturn 1\n")
    with pytest.raises(InputError, match=r"process.py:3: syntax error: 'return' outside function"):
        check_script(path, "f")


def test_a_missing_function_lists_those_that_exist(tmp_path: Path) -> None:
    path = script(tmp_path, "def resize(f):\n    pass\n\ndef crop(f):\n    pass\nX = 1\n")
    with pytest.raises(InputError) as caught:
        check_script(path, "downscale")
    assert caught.value.message == "process.py defines no top-level function named 'downscale'"
    assert "functions defined there: crop, resize" in caught.value.hint


def test_an_async_function_is_refused(tmp_path: Path) -> None:
    path = script(tmp_path, "async def downscale(infile):\n    return b''\n")
    with pytest.raises(InputError, match="process.py:1: downscale is an async function") as caught:
        check_script(path, "downscale")
    assert "plain `def downscale(infile)`" in caught.value.hint


@pytest.mark.parametrize(
    "source",
    [
        "def downscale(infile):\n    return infile.read()\n",
        "def downscale(infile, outfile, size=256):\n    pass\n",
        "def downscale(*args):\n    pass\n",
        "import functools\ndef _f(infile, size):\n    pass\ndownscale = functools.partial(_f, size=3)\n",
        "try:\n    from gzip import decompress as downscale\nexcept ImportError:\n    pass\n",
        "class downscale:\n    def __init__(self, infile):\n        pass\n",
    ],
)
def test_callables_that_are_accepted(tmp_path: Path, source: str) -> None:
    check_script(script(tmp_path, source), "downscale")


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        ("def downscale():\n    pass\n", "takes no parameters"),
        ("def downscale(a, b, c):\n    pass\n", "requires 3 positional parameters"),
        ("def downscale(a, *, size):\n    pass\n", r"requires keyword-only parameter\(s\) size"),
    ],
)
def test_signatures_codsh_cannot_call(tmp_path: Path, source: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as caught:
        check_script(script(tmp_path, source), "downscale")
    assert "downscale(infile, outfile)" in caught.value.hint


def test_syntax_newer_than_the_node_python_is_refused(tmp_path: Path) -> None:
    path = script(tmp_path, "type Point = tuple[int, int]\ndef f(infile):\n    pass\n")
    with pytest.raises(InputError, match="process.py:1: syntax error"):
        check_script(path, "f", python=(3, 11))


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("-e .", "editable installs"),
        ("--editable git+https://github.com/x/y", "editable installs"),
        ("git+https://github.com/python-pillow/Pillow", "VCS references"),
        ("pillow @ git+https://github.com/python-pillow/Pillow", "VCS references"),
        ("https://example.org/pkg-1.0-py3-none-any.whl", "direct URL"),
        ("./vendor/mypkg", "local paths"),
        ("/abs/pkg-1.0-py3-none-any.whl", "local paths"),
        ("-r other.txt", "nested requirement"),
        ("--no-binary :all:", "the option --no-binary is not supported"),
        ("-f ./wheels", "the option -f is not supported"),
    ],
)
def test_requirements_a_node_cannot_install_are_refused(
    tmp_path: Path, line: str, expected: str
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"# images\npillow==13.0.0\n{line}\n")
    with pytest.raises(InputError, match=expected) as caught:
        read_requirements(requirements)
    assert caught.value.message.startswith("requirements.txt:3: ")
    assert caught.value.hint


def test_refused_before_pip_runs(tmp_path: Path) -> None:
    """make_bundle checks the requirements before any download (no network needed for this)."""
    (tmp_path / "requirements.txt").write_text("-e ../mylib\n")
    with pytest.raises(InputError, match="editable"):
        make_bundle(
            tmp_path / "bundle",
            script(tmp_path, "def f(infile):\n    pass\n"),
            "f",
            tmp_path / "requirements.txt",
            TARGET,
        )
    assert not list((tmp_path / "bundle" / "wheels").glob("*"))


def test_plain_requirements_are_read(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "--index-url https://pypi.org/simple\n\n# comment\nPillow==13.0.0  # images\n"
        "numpy>=1.26 ; python_version >= '3.11'\nrequests[socks]\\\n>=2\n"
    )
    assert read_requirements(requirements) == [
        "Pillow==13.0.0",
        "numpy>=1.26 ; python_version >= '3.11'",
        "requests[socks]>=2",
    ]


def test_pack_copies_the_folder_without_caches(tmp_path: Path) -> None:
    src = tmp_path / "fn"
    (src / "lib" / "__pycache__").mkdir(parents=True)
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref")
    (src / "lib" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    (src / "lib" / "helpers.py").write_text("def double(b):\n    return b + b\n")
    (src / "process.py").write_text("from lib.helpers import double\ndef run(f):\n    pass\n")
    (src / "codsh.toml").write_text(render_manifest(FunctionManifest("process.py", "run")))
    dest = pack_directory(src, tmp_path / "out", TARGET)
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["codsh.toml", "lib/helpers.py", "process.py"]


def test_pack_refuses_a_folder_without_manifest_or_script(tmp_path: Path) -> None:
    src = tmp_path / "fn"
    src.mkdir()
    with pytest.raises(InputError, match="has no codsh.toml") as caught:
        pack_directory(src, tmp_path / "out", TARGET)
    assert 'script = "process.py"' in caught.value.hint
    (src / "codsh.toml").write_text(render_manifest(FunctionManifest("main.py", "run")))
    with pytest.raises(InputError, match="names the script 'main.py'"):
        pack_directory(src, tmp_path / "out", TARGET)
    with pytest.raises(InputError, match="inside it"):
        pack_directory(src, src / "bundle", TARGET)
