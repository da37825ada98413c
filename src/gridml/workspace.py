"""Where a zone's data, stores and runs live on disk.

One workspace per zone (default `./workspace`, or `$GRIDML_WORKSPACE`). Everything in it is
rebuilt by code and ignored by git.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKSPACE = Path("workspace")


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace. Creating this object creates nothing on disk."""

    root: Path

    @classmethod
    def from_env(cls, root: str | Path | None = None) -> Workspace:
        chosen = root or os.environ.get("GRIDML_WORKSPACE") or DEFAULT_WORKSPACE
        return cls(Path(chosen).resolve())

    @property
    def feeds(self) -> Path:
        """Validated raw feeds, one folder of Parquet parts per feed."""
        return self.root / "feeds"

    @property
    def labels(self) -> Path:
        """Ground truth the utility would not see (theft labels); never read by feature code."""
        return self.root / "labels"

    @property
    def offline(self) -> Path:
        """Feature tables: the Feast offline store's Parquet sources."""
        return self.root / "offline"

    @property
    def feature_repo(self) -> Path:
        """Feast registry and the SQLite online store."""
        return self.root / "feature_repo"

    @property
    def zone_file(self) -> Path:
        """Zone metadata (country, time zone, period) written with the feeds."""
        return self.feeds / "zone.json"

    def feed_dir(self, feed: str) -> Path:
        return self.feeds / feed

    def table_dir(self, table: str) -> Path:
        return self.offline / table
