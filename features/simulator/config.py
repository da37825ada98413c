"""Typed configuration of a synthetic pilot zone (`experiments/zone*.yaml`)."""

from __future__ import annotations

import datetime as dt
from typing import Self

import holidays
from pydantic import Field, field_validator, model_validator

from gridml.config import BaseConfig
from gridml.features.contracts import SEGMENTS, THEFT_ATTACKS


class SegmentMix(BaseConfig):
    """Share of meters per customer segment (must sum to 1)."""

    residential_prepaid: float = Field(0.62, ge=0, le=1)
    residential_postpaid: float = Field(0.18, ge=0, le=1)
    commercial: float = Field(0.16, ge=0, le=1)
    industrial: float = Field(0.04, ge=0, le=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> Self:
        total = sum(self.shares())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"segment shares must sum to 1, got {total:.4f}")
        return self

    def shares(self) -> list[float]:
        return [getattr(self, s) for s in SEGMENTS]


class RestorationConfig(BaseConfig):
    """What drives the restoration time of an unplanned outage (multiplies its kind's median)."""

    night: float = Field(1.6, ge=1, description="Factor for a fault between 20:00 and 06:00.")
    rain: float = Field(1.4, ge=1, description="Factor for a fault in an hour with rain.")
    rural: float = Field(1.5, ge=1, description="Factor for a fault on a rural feeder.")
    per_10_km: float = Field(
        0.08, ge=0, description="Added factor per 10 km of feeder (longer patrols)."
    )
    per_year_of_age: float = Field(0.015, ge=0, description="Added factor per year of asset age.")
    per_busy_crew: float = Field(
        0.3, ge=0, description="Added factor per other outage open in the region at the start."
    )
    sigma: float = Field(0.9, gt=0, description="Log-normal spread (heavy tail).")
    max_hours: float = Field(240.0, gt=0, description="Longest outage, hours.")


class MeterEventConfig(BaseConfig):
    """AMI meter events (`meter_events`): last gasps, restores, tamper alarms."""

    last_gasp_loss: float = Field(
        0.25, ge=0, le=1, description="Share of last gasps lost when few meters gasp at once."
    )
    last_gasp_loss_storm: float = Field(
        0.6, ge=0, le=1, description="Share lost when a whole feeder or more gasps at once."
    )
    storm_meters: int = Field(
        200, ge=1, description="Meters gasping at once from which the storm loss applies."
    )
    restore_loss: float = Field(0.03, ge=0, le=1, description="Share of restores lost.")
    gasp_delay_s: float = Field(3.0, ge=0, description="Mean delay of a last gasp, seconds.")
    restore_delay_s: float = Field(20.0, ge=0, description="Mean delay of a restore, seconds.")
    single_meter_per_year: float = Field(
        1.0, ge=0, description="Single-customer supply losses (own breaker) per meter and year."
    )
    tamper_share: float = Field(
        0.4, ge=0, le=1, description="Share of thieves whose meter raises a tamper alarm."
    )
    false_tamper_per_year: float = Field(
        0.02, ge=0, description="Tamper alarms per honest meter and year (cover, vibration)."
    )


class OutageConfig(BaseConfig):
    """Supply interruptions: scheduled load shedding and unplanned feeder outages."""

    shedding_episodes_per_year: float = Field(
        3.0, ge=0, description="Periods (weeks long) during which load shedding runs."
    )
    shedding_episode_days: tuple[int, int] = Field(
        (7, 30), description="Min/max length of a shedding episode, days."
    )
    max_stage: int = Field(4, ge=1, le=8, description="Highest stage an episode reaches.")
    unplanned_per_feeder_year: float = Field(
        18.0, ge=0, description="Mean unplanned outages per feeder and year."
    )
    unplanned_median_hours: float = Field(
        2.0, gt=0, description="Unused since the restoration model (kept for old configs)."
    )
    transformer_faults_per_year: float = Field(
        0.8, ge=0, description="Unplanned outages per distribution transformer and year."
    )
    substation_faults_per_year: float = Field(
        1.5, ge=0, description="Unplanned outages per substation and year (all its feeders)."
    )
    transformer_damage_share: float = Field(
        0.1, ge=0, le=1, description="Share of transformer outages that need a spare (days)."
    )
    rural_feeder_share: float = Field(0.35, ge=0, le=1, description="Share of rural feeders.")
    restoration: RestorationConfig = RestorationConfig()
    events: MeterEventConfig = MeterEventConfig()


class AssetConfig(BaseConfig):
    """Distribution transformers: ratings, ageing and failures."""

    annual_failure_rate: float = Field(
        0.05, ge=0, le=0.5, description="Mean share of transformers failing per year."
    )
    fault_development_days: tuple[int, int] = Field(
        (5, 30), description="Days an incipient fault shows in DGA and heat before failure."
    )
    repair_days: tuple[int, int] = Field(
        (1, 5), description="Days the transformer's customers are without supply."
    )
    age_years: tuple[int, int] = Field((1, 35), description="Age range at the zone's start.")
    overloaded_share: float = Field(
        0.15, ge=0, le=1, description="Share of transformers sized below their peak load."
    )


class TheftAttackConfig(BaseConfig):
    """Electricity theft: who steals, from when, and how (Jokar attack types h1-h6)."""

    share: float = Field(0.10, ge=0, le=0.6, description="Share of meters that steal.")
    clustered_share: float = Field(
        0.8, ge=0, le=1, description="Share of thieves on theft-prone transformers."
    )
    prone_transformer_share: float = Field(0.3, gt=0, le=1)
    attack_types: tuple[str, ...] = THEFT_ATTACKS
    min_history_days: int = Field(
        45, ge=0, description="Honest days every thief has before it starts."
    )

    @field_validator("attack_types")
    @classmethod
    def _known_attacks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(THEFT_ATTACKS))
        if unknown or not value:
            raise ValueError(f"attack types must be among {THEFT_ATTACKS}, got {unknown or value}")
        return value


class ZoneConfig(BaseConfig):
    """A pilot zone: grid hierarchy, period, country and the behaviour of its feeds."""

    name: str = "pilot-zone"
    seed: int = 42
    country: str = Field("CI", description="ISO code of a country the `holidays` package knows.")
    subdivision: str | None = Field(
        None,
        description="A subdivision of the country whose public holidays apply too (`holidays` "
        "package code, e.g. VIC for AU).",
    )
    start: dt.date = dt.date(2024, 1, 1)
    days: int = Field(730, ge=28, le=3660, description="Length of the period, days.")
    meters: int = Field(600, ge=4, le=1_000_000)
    regions: int = Field(2, ge=1, le=50)
    substations_per_region: int = Field(2, ge=1, le=50)
    feeders_per_substation: int = Field(3, ge=1, le=50)
    meters_per_transformer: int = Field(
        12, ge=2, le=400, description="Mean metered customers per distribution transformer."
    )
    annual_growth: float = Field(0.04, ge=-0.2, le=0.5, description="Demand growth per year.")
    segment_mix: SegmentMix = SegmentMix()
    meter_fault_share: float = Field(0.02, ge=0, le=0.5)
    missing_reading_share: float = Field(0.003, ge=0, le=0.5)
    outages: OutageConfig = OutageConfig()
    assets: AssetConfig = AssetConfig()
    theft: TheftAttackConfig = TheftAttackConfig()
    chunk_meters: int = Field(
        2_000, ge=10, description="Meters generated per chunk (bounds peak memory)."
    )

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        code = value.upper()
        if code not in holidays.list_supported_countries():
            raise ValueError(f"country {value!r} is not known to the holidays package")
        return code

    @model_validator(mode="after")
    def _known_subdivision(self) -> Self:
        known = holidays.list_supported_countries()[self.country]
        if self.subdivision is not None and self.subdivision not in known:
            raise ValueError(
                f"subdivision {self.subdivision!r} of {self.country} is not known to the "
                f"holidays package; known: {', '.join(known) or 'none'}"
            )
        return self

    @property
    def transformers(self) -> int:
        return max(1, round(self.meters / self.meters_per_transformer))

    @property
    def feeders(self) -> int:
        return self.regions * self.substations_per_region * self.feeders_per_substation

    @model_validator(mode="after")
    def _enough_transformers(self) -> Self:
        if self.transformers < self.feeders:
            raise ValueError(
                f"{self.meters} meters at {self.meters_per_transformer} per transformer give "
                f"{self.transformers} transformers, fewer than the {self.feeders} feeders"
            )
        return self
