"""Check feeds against their contracts, with errors that name file, rows and column.

Used by `gridml data validate` on a workspace and by the importer before anything is written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.errors as pa_errors

from gridml.errors import ContractError, MissingDataError
from gridml.features.contracts import FEEDS, LOAD_FEEDS, Feed
from gridml.io import parts
from gridml.workspace import Workspace

log = logging.getLogger(__name__)
MAX_ROWS_SHOWN = 5


def describe_rows(index: list[Any]) -> str:
    """1-based data rows (header excluded) as a short list."""
    numbers = sorted({int(i) + 1 for i in index if i is not None and not pd.isna(i)})
    shown = ", ".join(str(n) for n in numbers[:MAX_ROWS_SHOWN])
    more = f" and {len(numbers) - MAX_ROWS_SHOWN} more" if len(numbers) > MAX_ROWS_SHOWN else ""
    return f"row{'s' if len(numbers) > 1 else ''} {shown}{more}"


def describe_schema_errors(
    exc: pa_errors.SchemaErrors, source: str, key: tuple[str, ...] = ()
) -> list[str]:
    """One message per failed (column, check), naming the source, the rows and bad values."""
    cases = exc.failure_cases
    messages: list[str] = []
    for (column, check), group in cases.groupby(
        [cases["column"].fillna("<table>"), cases["check"].astype(str)], sort=False
    ):
        if check == "column_in_schema":
            messages.append(f"{source}: unexpected column(s) {sorted(group['failure_case'])}")
        elif check == "column_in_dataframe":
            messages.append(f"{source}: missing column(s) {sorted(group['failure_case'])}")
        elif check.startswith("dtype("):
            messages.append(
                f"{source}: column {column!r} has type {group['failure_case'].iat[0]}, "
                f"expected {check[6:-1]}"
            )
        elif check in ("multiple_fields_uniqueness", "field_uniqueness"):
            msg = f"{source}: duplicate key ({', '.join(key)}) at " + describe_rows(
                list(group["index"])
            )
            if msg not in messages:  # pandera reports a multi-column key once per column
                messages.append(msg)
        else:
            values = ", ".join(repr(v) for v in group["failure_case"].head(MAX_ROWS_SHOWN))
            messages.append(
                f"{source}: column {column!r} fails {check} at "
                f"{describe_rows(list(group['index']))} (values {values})"
            )
    return messages


def check_frame(df: pd.DataFrame, contract: Feed, source: str) -> list[str]:
    """Contract errors of one frame (empty when it conforms)."""
    try:
        contract.schema.validate(df, lazy=True)
    except pa_errors.SchemaErrors as exc:
        return describe_schema_errors(exc, source, contract.key)
    return []


def check_order(df: pd.DataFrame, contract: Feed, source: str) -> list[str]:
    """Rows of one entity must come in time order (a sign of a broken export otherwise)."""
    if contract.time_column is None or contract.entity_column is None:
        return []
    ts = df[contract.time_column]
    same = df[contract.entity_column].eq(df[contract.entity_column].shift())
    back = df.index[same & ts.lt(ts.shift())]
    if len(back):
        return [
            f"{source}: rows out of time order at {describe_rows(list(back))} (column "
            f"{contract.time_column!r} goes back in time for the same {contract.entity_column!r})"
        ]
    return []


def check_references(
    df: pd.DataFrame, contract: Feed, known: dict[str, set[str]], source: str
) -> list[str]:
    """Ids that must exist in another feed (when that feed exists)."""
    errors = []
    for column, (other, other_col) in contract.references.items():
        ids = known.get(f"{other}.{other_col}")
        if ids is None or column not in df.columns:
            continue
        bad = ~df[column].isin(ids)
        if bad.any():
            unknown = sorted(df.loc[bad, column].astype(str).unique())
            errors.append(
                f"{source}: column {column!r} has {len(unknown)} unknown id(s) not in "
                f"{other} ({', '.join(unknown[:MAX_ROWS_SHOWN])}) at "
                f"{describe_rows(list(df.index[bad]))}"
            )
    return errors


@dataclass
class ValidationReport:
    feeds: dict[str, int] = field(default_factory=dict)  # feed -> rows checked
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def known_ids(ws_feeds: Path) -> dict[str, set[str]]:
    """Ids of the registry feeds (meters, transformers) present in a feeds folder."""
    known = {}
    for name, col in (("meters", "meter_id"), ("transformers", "transformer_id")):
        files = parts(ws_feeds / name)
        if files:
            known[f"{name}.{col}"] = set(
                pd.concat(pd.read_parquet(f, columns=[col]) for f in files)[col]
            )
    return known


def validate_workspace(ws: Workspace) -> ValidationReport:
    """Validate every feed of a workspace, part by part (bounded memory)."""
    if not any(parts(ws.feed_dir(name)) for name in LOAD_FEEDS):
        raise MissingDataError(
            f"no readings or load measurements in {ws.feeds}: run `gridml data generate` or "
            "`gridml data import` first"
        )
    report = ValidationReport()
    known = known_ids(ws.feeds)
    for name, contract in FEEDS.items():
        files = parts(ws.feed_dir(name))
        if not files:
            continue
        rows, errors_before = 0, len(report.errors)
        for f in files:
            df = pd.read_parquet(f)
            source = str(f.relative_to(ws.root))
            report.errors += check_frame(df, contract, source)
            report.errors += check_order(df, contract, source)
            report.errors += check_references(df, contract, known, source)
            rows += len(df)
        report.feeds[name] = rows
        status = "ok" if len(report.errors) == errors_before else "errors"
        log.info("%-22s %12s rows  %s", name, f"{rows:,}", status)
    return report


def raise_if_invalid(errors: list[str]) -> None:
    """Raise ContractError listing the errors, if any."""
    if errors:
        raise ContractError("\n".join(errors))
