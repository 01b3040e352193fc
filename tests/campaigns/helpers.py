"""Helpers shared by the campaign tests: resident rows, CSV files and settings."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from contact_center.settings import CampaignSettings, Settings

FIELDS = [
    "email",
    "first_name",
    "last_name",
    "language",
    "nationality",
    "permit_type",
    "permit_expires",
    "postcode",
    "consent",
    "district",
]


def resident(i: int, language: str = "fr", days: int = 30, **extra: Any) -> dict[str, Any]:
    row = {
        "email": f"resident{i}@example.org",
        "first_name": f"First{i}",
        "last_name": f"Last{i}",
        "language": language,
        "nationality": "MA",
        "permit_type": "A",
        "permit_expires": (date.today() + timedelta(days=days)).isoformat(),
        "postcode": "1000",
        "consent": "yes",
        "district": "centre",
    }
    row.update(extra)
    return row


def write_csv(path: Path, rows: list[dict[str, Any]], fields: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields or FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def make_settings(data_dir: Path, **campaign: Any) -> Settings:
    options: dict[str, Any] = {
        "rate_per_second": 0,
        "retry_base_seconds": 0.01,
        "retry_max_seconds": 0.05,
        "lease_seconds": 5,
    }
    options.update(campaign)
    return Settings(data_dir=data_dir, secret_key="test-secret", campaigns=CampaignSettings(**options))


def smtp_settings(data_dir: Path, port: int, **campaign: Any) -> Settings:
    base = make_settings(data_dir, **campaign)
    return base.model_copy(
        update={
            "smtp": base.smtp.model_copy(
                update={
                    "host": "127.0.0.1",
                    "port": port,
                    "tls": "none",
                    "pool_size": 4,
                    "timeout_seconds": 5,
                }
            )
        }
    )
