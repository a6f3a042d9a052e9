"""Generate the Lisbon demo dataset: hourly weather-sensor logs, `datetime,lat,lon,temp,baro,rain`.

Deterministic (seeded), so the demo's output CID is the same on every machine. Some sensors stand
within 10 km of Lisbon (38.736946, -9.142685); the design's sed filter picks exactly their lines.
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

SENSORS = [
    (38.736946, -9.142685),  # Lisbon, Campo Pequeno
    (38.725310, -9.150036),  # Lisbon, Rato
    (38.741825, -9.138960),  # Lisbon, Areeiro
    (38.802700, -9.381740),  # Sintra: outside the box
    (41.157944, -8.629105),  # Porto
    (37.019356, -7.930440),  # Faro
]


def generate(root: Path, years: int, days_per_year: int, hours_per_day: int, lines: int) -> int:
    rng = random.Random(38)
    count = 0
    for year in range(2016, 2016 + years):
        for day in range(days_per_year):
            date = datetime(year, 1, 1, tzinfo=UTC) + timedelta(days=day * 365 // days_per_year)
            for hour in range(hours_per_day):
                start = date + timedelta(hours=hour * 24 // hours_per_day)
                path = root / f"{year}" / f"{start:%m}" / f"{start:%Y-%m-%dT%H}.log"
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("w") as out:
                    for second in range(0, 3600, 3600 // lines):
                        lat, lon = rng.choice(SENSORS)
                        when = start + timedelta(seconds=second)
                        temp = 8 + 14 * rng.random()
                        baro = 1000 + 25 * rng.random()
                        rain = max(0.0, rng.gauss(0.2, 0.8))
                        out.write(
                            f"{when:%Y-%m-%dT%H:%M:%SZ},{lat:.6f},{lon:.6f},{temp:.2f},{baro:.1f},{rain:.2f}\n"
                        )
                count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--days-per-year", type=int, default=12)
    parser.add_argument("--hours-per-day", type=int, default=4)
    parser.add_argument("--lines", type=int, default=360, help="lines per hourly file")
    args = parser.parse_args()
    n = generate(args.root, args.years, args.days_per_year, args.hours_per_day, args.lines)
    print(f"wrote {n} hourly log files under {args.root}")


if __name__ == "__main__":
    main()
