"""Benchmark the filesource CSV reader: `python manage.py bench_csv --rows 1000000`.

Writes a CRM-like CSV of N rows to a temporary folder (or reads --file), reads it through the
filesource driver exactly as a sync does, and prints rows/s and the peak resident memory.
"""

from __future__ import annotations

import csv
import random
import resource
import tempfile
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings

HEADER = [
    "Id",
    "Name",
    "BillingCity",
    "BillingCountry",
    "AnnualRevenue",
    "NumberOfEmployees",
    "Industry",
    "Website",
    "IsDeleted",
    "SystemModstamp",
]


def write_rows(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    cities = ["Berlin", "Paris", "New York", "São Paulo", "Zürich", "Tokyo", "Austin"]
    industries = ["Technology", "Finance", "Healthcare", "Retail", "Energy"]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(rows):
            writer.writerow(
                [
                    f"001{i:015d}",
                    f"Company {i}, Inc.",
                    rng.choice(cities),
                    "US",
                    f"{rng.random() * 1e7:.2f}",
                    rng.randint(1, 50000),
                    rng.choice(industries),
                    f"https://company{i}.example.com",
                    "false",
                    "2024-03-01T10:00:00.000+0000",
                ]
            )


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


class Command(BaseCommand):
    help = "Measure the filesource CSV reader (rows/s, peak RSS)."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=1_000_000)
        parser.add_argument("--page-size", type=int, default=1000)
        parser.add_argument("--file", help="read this CSV instead of generating one")

    def handle(self, *args, rows: int, page_size: int, file: str | None, **options):
        from connectors.registry import build_driver

        if rows <= 0 or page_size <= 0:
            raise CommandError("--rows and --page-size must be positive")
        with tempfile.TemporaryDirectory(prefix="bench_csv_") as tmp:
            if file:
                path = Path(file).resolve()
                if not path.is_file():
                    raise CommandError(f"no such file: {file}")
            else:
                path = Path(tmp) / "accounts.csv"
                t0 = time.perf_counter()
                write_rows(path, rows)
                self.stdout.write(
                    f"wrote {rows:,} rows ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f}s"
                )
            rss_before = peak_rss_mb()
            with override_settings(FILESOURCE_ALLOWED_ROOTS=[str(path.parent)]):
                driver = build_driver("filesource", {"folder": str(path.parent), "files": [path.name]}, {})
                name = path.stem
                t0 = time.perf_counter()
                read = errors = 0
                for page in driver.read(name, None, page_size):
                    read += page.record_count
                    errors += len(page.errors)
                elapsed = time.perf_counter() - t0
        self.stdout.write(
            f"read {read:,} records ({errors} row errors) in {elapsed:.2f}s: {read / elapsed:,.0f} rows/s; "
            f"peak RSS {peak_rss_mb():.0f} MB (before reading {rss_before:.0f} MB)"
        )
