"""The request bodies of the service, bounded field by field (validated before any endpoint
code runs; a violation is a 400 naming the field, its input never echoed in full).

Every string and list has a ceiling: ids are printable ASCII of at most 64 characters (the data
contract's id length), lists of ids at most `MAX_IDS_CEILING` (the configured `max_ids`, lower,
answers 413), a batch at most `MAX_BATCH_REQUESTS` requests, `temperature_c` at most 168 values
within -60..70 C. Numbers are strict: `true` is not 1, NaN and Infinity are refused.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from gridml.features.contracts import MAX_HOURLY_KWH
from gridml.models.layout import Level

ID_MAX_CHARS = 64
ID_PATTERN = r"^[!-~]+$"  # printable ASCII without spaces: no newline can reach a log
MAX_IDS_CEILING = 10_000  # the schema's bound; ServingConfig.max_ids may only be lower
MAX_READINGS_CEILING = 100_000
MAX_BATCH_REQUESTS = 256
MAX_HORIZON = 168
TEMPERATURE_RANGE_C = (-60.0, 70.0)

Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX_CHARS, pattern=ID_PATTERN),
    Field(examples=["F001"]),
]
Ids = Annotated[
    list[Id],
    Field(min_length=1, max_length=MAX_IDS_CEILING, description="Entity ids (at most max_ids)."),
]
EndpointName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$"),
    Field(description="A served endpoint's name (GET /models lists them).", examples=["theft"]),
]
Horizon = Annotated[int, Field(strict=True, ge=1, le=MAX_HORIZON)]
Quantile = Annotated[float, Field(strict=True, gt=0, lt=1, allow_inf_nan=False)]
Quantiles = Annotated[list[Quantile], Field(min_length=1, max_length=99)]
Temperature = Annotated[
    float,
    Field(
        strict=True,
        ge=TEMPERATURE_RANGE_C[0],
        le=TEMPERATURE_RANGE_C[1],
        allow_inf_nan=False,
    ),
]
Temperatures = Annotated[list[Temperature], Field(min_length=1, max_length=MAX_HORIZON)]
Kwh = Annotated[float, Field(strict=True, ge=0, le=MAX_HOURLY_KWH, allow_inf_nan=False)]
Timestamp = Annotated[
    str,
    StringConstraints(min_length=1, max_length=40, pattern=r"^[0-9T:+\-.Z ]+$"),
    Field(
        description="Start of the hour read, ISO 8601 with a UTC offset, on the hour.",
        examples=["2024-06-29T10:00:00Z"],
    ),
]


class Reading(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meter_id: Id = Field(examples=["M000001"])
    timestamp: Timestamp
    kwh: Kwh = Field(description="Energy of the hour, kWh.", examples=[0.42])


Readings = Annotated[
    list[Reading],
    Field(min_length=1, max_length=MAX_READINGS_CEILING, description="Hourly meter readings."),
]


class DemandRequest(BaseModel):
    """One forecast request of the batch route (the fields of POST /forecast/demand)."""

    model_config = ConfigDict(extra="forbid")

    ids: Ids = Field(examples=[["F001"]])
    level: Level = "feeder"
    horizon: Horizon | None = None
    quantiles: Quantiles | None = None
    temperature_c: Temperatures | None = None


DemandRequests = Annotated[list[DemandRequest], Field(min_length=1, max_length=MAX_BATCH_REQUESTS)]


def clip(text: object, limit: int = 300) -> str:
    """`text` cut to `limit` characters for a log line or an error message."""
    s = str(text)
    return s if len(s) <= limit else f"{s[:limit]}... ({len(s)} chars)"
