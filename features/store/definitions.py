"""Feast objects of gridml, built from the table catalog (one source of names and types).

Entities: meter, transformer, feeder, series (a load series at any level), region. One feature
view per feature table, a push source for fresh meter readings, and one FeatureService per model
version.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource
from feast.data_format import ParquetFormat
from feast.types import Float64, Int64, String
from feast.value_type import ValueType

from gridml.errors import UserError
from gridml.features.tables.catalog import EVENT_TIMESTAMP, TABLES, TableSpec
from gridml.io import glob_of

_TYPES = {"float": Float64, "int": Int64, "string": String}
PUSH_SOURCE = "meter_readings_push"
FRESH_READINGS_VIEW = "meter_latest_reading"
LIVENESS_VIEW = "meter_liveness"  # offline table and streamed online, one definition
TRANSFORMER_LIVENESS_VIEW = "transformer_liveness"
LAST_EVENT_VIEW = "meter_last_event"
ENERGY_BALANCE_VIEW = "transformer_energy_balance"
# tables the stream consumer also writes online: view -> its push source
PUSHED = {
    LIVENESS_VIEW: "meter_liveness_push",
    TRANSFORMER_LIVENESS_VIEW: "transformer_liveness_push",
    LAST_EVENT_VIEW: "meter_last_event_push",
    ENERGY_BALANCE_VIEW: "transformer_energy_balance_push",
}

ENTITIES = {
    "meter_id": Entity(
        name="meter",
        join_keys=["meter_id"],
        value_type=ValueType.STRING,
        description="A customer's electricity meter.",
    ),
    "transformer_id": Entity(
        name="transformer",
        join_keys=["transformer_id"],
        value_type=ValueType.STRING,
        description="A distribution transformer (MV/LV).",
    ),
    "feeder_id": Entity(
        name="feeder",
        join_keys=["feeder_id"],
        value_type=ValueType.STRING,
        description="An MV feeder leaving a substation.",
    ),
    "series_id": Entity(
        name="series",
        join_keys=["series_id"],
        value_type=ValueType.STRING,
        description="A load series of the grid hierarchy: 'transformer:T00001', "
        "'feeder:F001', 'substation:S0101' or 'zone:all'.",
    ),
    "region_id": Entity(
        name="region",
        join_keys=["region_id"],
        value_type=ValueType.STRING,
        description="An operating region (weather and calendar).",
    ),
}

# FeatureService name -> {view: features (None = all)}
SERVICES: dict[str, dict[str, list[str] | None]] = {
    "demand_forecast_v1": {
        "load_hourly": None,
        "load_week_profile": None,
        "series_profile": None,
        "weather_hourly": None,
        "region_calendar": None,
    },
    "asset_failure_v1": {
        "transformer_daily": None,
        "transformer_energy_daily": ["loss_ratio_7d", "loss_ratio_28d"],
    },
    "theft_detection_v1": {
        "meter_daily": None,
        "meter_profile": ["is_prepaid"],
        "transformer_energy_daily": ["loss_ratio", "loss_ratio_7d", "loss_ratio_28d"],
    },
    # v1 + the streamed liveness features (v1 stays as is: served models read it by contract)
    "theft_detection_v2": {
        "meter_daily": None,
        "meter_profile": ["is_prepaid"],
        "transformer_energy_daily": ["loss_ratio", "loss_ratio_7d", "loss_ratio_28d"],
        LIVENESS_VIEW: None,
        TRANSFORMER_LIVENESS_VIEW: None,
    },
    # what the grid looks like right now, streamed: liveness, last events, energy balance
    "grid_live_v1": {
        LIVENESS_VIEW: None,
        LAST_EVENT_VIEW: None,
        TRANSFORMER_LIVENESS_VIEW: None,
        ENERGY_BALANCE_VIEW: None,
    },
}
SERVICE_DESCRIPTIONS = {
    "demand_forecast_v1": "Hourly demand forecasting of grid series (LightGBM, Prophet): load "
    "lags at the forecast origin, weather and calendar at the target hour.",
    "asset_failure_v1": "Distribution-transformer failure within the horizon (PyTorch).",
    "theft_detection_v1": "Electricity theft / fraud on meter consumption (PyTorch).",
    "theft_detection_v2": "theft_detection_v1 plus the meter liveness features (last reading, "
    "hours since it, zero-reading run) and its transformer's share of meters heard, streamed "
    "online and built offline alike.",
    "grid_live_v1": "The grid as the stream sees it: meter liveness and last event (power down, "
    "restore, tamper), the transformer's share of meters heard and its hourly energy balance "
    "(share unexplained); streamed online and built offline alike.",
}


def service_join_keys(service: str) -> list[str]:
    """Join keys an entity frame needs for a FeatureService (UserError naming the known ones)."""
    if service not in SERVICES:
        raise UserError(f"unknown FeatureService {service!r}; known: {', '.join(SERVICES)}")
    keys: list[str] = []
    for view in SERVICES[service]:
        for key in TABLES[view].entities:
            if key not in keys:
                keys.append(key)
    return keys


@dataclass
class Definitions:
    entities: list[Entity]
    views: dict[str, FeatureView]
    push_source: PushSource
    services: dict[str, FeatureService]

    def objects(self) -> list:
        pushes = [v.stream_source for v in self.views.values() if v.stream_source is not None]
        sources = list({p.name: p for p in [self.push_source, *pushes]}.values())
        return [*self.entities, *sources, *self.views.values(), *self.services.values()]


def _view(spec: TableSpec, offline_dir: Path) -> FeatureView:
    source: FileSource | PushSource = FileSource(
        name=f"{spec.name}_source",
        path=glob_of(offline_dir / spec.name),
        file_format=ParquetFormat(),
        timestamp_field=EVENT_TIMESTAMP,
        description=spec.description,
    )
    if spec.name in PUSHED:  # the stream consumer pushes it; offline reads the table
        source = PushSource(
            name=PUSHED[spec.name], batch_source=source, description=spec.description
        )
    return FeatureView(
        name=spec.name,
        entities=[ENTITIES[e] for e in spec.entities],
        ttl=spec.ttl,
        schema=[Field(name=n, dtype=_TYPES[k]) for n, k in spec.features.items()],
        source=source,
        online=True,
        description=spec.description,
        owner=spec.owner,
        tags={"table": spec.name},
    )


def build_definitions(offline_dir: Path, feeds_dir: Path) -> Definitions:
    """All Feast objects, their file sources under a workspace's offline and feeds folders."""
    views = {name: _view(spec, offline_dir) for name, spec in TABLES.items()}
    push = PushSource(
        name=PUSH_SOURCE,
        batch_source=FileSource(
            name="readings_feed",
            path=glob_of(feeds_dir / "readings"),
            file_format=ParquetFormat(),
            timestamp_field="timestamp",
        ),
        description="Fresh meter readings posted by head-end systems or the /readings endpoint.",
    )
    views[FRESH_READINGS_VIEW] = FeatureView(
        name=FRESH_READINGS_VIEW,
        entities=[ENTITIES["meter_id"]],
        ttl=TABLES["meter_hourly"].ttl,
        schema=[Field(name="kwh", dtype=Float64)],
        source=push,
        online=True,
        description="The latest reading of each meter, as pushed.",
        owner=TABLES["meter_hourly"].owner,
    )
    services = {
        name: FeatureService(
            name=name,
            features=[views[v] if cols is None else views[v][cols] for v, cols in spec.items()],
            description=SERVICE_DESCRIPTIONS[name],
            owner=TABLES["meter_hourly"].owner,
        )
        for name, spec in SERVICES.items()
    }
    return Definitions(list(ENTITIES.values()), views, push, services)
