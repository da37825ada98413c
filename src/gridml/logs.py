"""Logging set-up for the CLI: readable, timestamped lines on stderr."""

from __future__ import annotations

import logging
import os
import warnings

from rich.logging import RichHandler

_NOISY = ("cmdstanpy", "feast", "alembic", "urllib3", "httpx", "numexpr", "bentoml")


def setup(verbose: bool = False) -> None:
    """Configure logging (rich handler; DEBUG when verbose) and quiet MLflow's progress bars."""
    # MLflow draws a progress bar per artifact it reads back; our logs say what happens
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    level = logging.DEBUG if verbose else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="%H:%M:%S",
        handlers=[RichHandler(show_path=False, rich_tracebacks=False)],
        force=True,
    )
    for name in _NOISY:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not verbose:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module="feast")
