"""Write completions/codsh.{bash,zsh,fish} from click's shell completion (so they match the CLI).

python scripts/completions.py          # rewrite the scripts
python scripts/completions.py --check  # exit 1 when a checked-in script is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from codsh.cli import cli
from codsh.completion import SHELLS, script

TARGET = Path(__file__).resolve().parent.parent / "completions"


def main() -> None:
    stale = []
    for shell in SHELLS:
        path = TARGET / f"codsh.{shell}"
        text = script(shell, cli)
        if "--check" in sys.argv:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
            continue
        TARGET.mkdir(exist_ok=True)
        path.write_text(text)
    if stale:
        names = ", ".join(str(p) for p in stale)
        print(f"{names} out of date: run `python scripts/completions.py`", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
