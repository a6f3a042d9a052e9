"""Write deploy/'s systemd units from codsh/commands/units.py (what `--unit` prints), with the
example names the README uses.

python scripts/deploy_units.py          # rewrite deploy/*.service
python scripts/deploy_units.py --check  # exit 1 when a checked-in unit is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

from codsh.commands.units import examples

TARGET = Path(__file__).resolve().parent.parent / "deploy"


def main() -> None:
    stale = []
    for name, text in examples().items():
        path = TARGET / name
        if "--check" in sys.argv:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
            continue
        TARGET.mkdir(exist_ok=True)
        path.write_text(text)
    if stale:
        print(
            f"{', '.join(stale)} out of date: run `python scripts/deploy_units.py`", file=sys.stderr
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
