"""Invariants of the synthetic zone generator (features/simulator): contracts, determinism, theft,
energy balance, outages, load shapes, weather and prepaid vends."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from gridml.features.contracts import FEEDS, THEFT_ATTACKS, THEFT_LABELS
from gridml.features.simulator.config import TheftAttackConfig, ZoneConfig
from gridml.features.simulator.generate import generate_zone
from gridml.features.simulator.theft import choose_thieves
from gridml.features.validate import validate_workspace
from gridml.io import parts, read_parts
from gridml.workspace import Workspace

REDUCING_ATTACKS = {"h1", "h2", "h3", "h4"}  # h5/h6 move energy within a day, keeping the total


def frame_digest(df: pd.DataFrame) -> str:
    """A content hash of a frame (values, column names and dtypes; row order matters)."""
    h = hashlib.sha256()
    h.update(repr(list(zip(df.columns, df.dtypes.astype(str), strict=True))).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def zone_digests(ws: Workspace) -> dict[str, str]:
    out = {
        name: frame_digest(read_parts(ws.feed_dir(name)))
        for name in FEEDS
        if parts(ws.feed_dir(name))
    }
    out["theft_labels"] = frame_digest(pd.read_parquet(ws.labels / "theft_labels.parquet"))
    return out


# --------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_feeds(small_zone, small_zone_cfg, tmp_path):
    again = Workspace(tmp_path / "again")
    generate_zone(small_zone_cfg, again, progress=False)
    first, second = zone_digests(small_zone), zone_digests(again)
    assert set(first) == set(second)
    assert first == second


def test_different_seed_gives_different_feeds(small_zone, small_zone_cfg, tmp_path):
    other = Workspace(tmp_path / "other")
    generate_zone(
        small_zone_cfg.model_copy(update={"seed": small_zone_cfg.seed + 1}), other, progress=False
    )
    first, second = zone_digests(small_zone), zone_digests(other)
    for name in ("readings", "weather", "transformer_telemetry", "theft_labels"):
        assert first[name] != second[name], f"{name} does not depend on the seed"


# --------------------------------------------------------------------------- contracts


def test_every_feed_is_written_and_conforms_to_its_contract(small_zone):
    written = {name for name in FEEDS if parts(small_zone.feed_dir(name))}
    # the synthetic zone meters every customer; measured load is a feed utilities import
    expected = set(FEEDS) - {"load_measurements"}
    assert written == expected, f"feeds not generated: {expected - written}"
    for name in FEEDS:
        for part in parts(small_zone.feed_dir(name)):
            df = pd.read_parquet(part)
            # a small zone may have no failure; every other feed has rows
            assert len(df) or name == "failures", f"{part} is empty"
            FEEDS[name].schema.validate(df, lazy=True)
    report = validate_workspace(small_zone)
    assert report.ok, report.errors
    assert set(report.feeds) == expected


def test_ids_are_consistent_across_feeds(small_data, small_zone_cfg):
    meters, tr = small_data["meters"], small_data["transformers"]
    assert len(meters) == small_zone_cfg.meters
    assert len(tr) == small_zone_cfg.transformers
    assert set(meters["transformer_id"]) <= set(tr["transformer_id"])
    assert tr["feeder_id"].nunique() == small_zone_cfg.feeders
    readings = small_data["readings"]
    assert set(readings["meter_id"]) == set(meters["meter_id"])
    # every hour of the period, no reading outside it; only a small share missing
    assert readings["timestamp"].min() == small_data.start
    assert readings["timestamp"].max() == small_data.end - pd.Timedelta(hours=1)
    expected = small_zone_cfg.meters * small_zone_cfg.days * 24
    assert 0.98 * expected <= len(readings) <= expected


# --------------------------------------------------------------------------- theft labels


def test_theft_labels_are_kept_out_of_the_feeds(small_zone, small_data):
    labels_file = small_zone.labels / "theft_labels.parquet"
    assert labels_file.is_file()
    assert small_zone.feeds not in labels_file.parents
    THEFT_LABELS.validate(small_data.labels)
    for path in small_zone.feeds.rglob("*"):
        assert "theft" not in path.name.lower() and "label" not in path.name.lower(), path
        if path.suffix == ".parquet":
            columns = pd.read_parquet(path).columns
            assert not [c for c in columns if "theft" in c or "attack" in c], path


@pytest.mark.parametrize("zone", ["small", "medium"])
def test_theft_share_start_and_attack_types(zone, request):
    data = request.getfixturevalue(f"{zone}_data")
    cfg: ZoneConfig = request.getfixturevalue(f"{zone}_zone_cfg")
    labels = data.labels
    assert len(labels) == round(cfg.theft.share * cfg.meters)
    assert labels["meter_id"].is_unique
    assert set(labels["meter_id"]) <= set(data["meters"]["meter_id"])
    assert set(labels["attack_type"]) <= set(cfg.theft.attack_types)
    earliest = data.start + pd.Timedelta(days=cfg.theft.min_history_days)
    assert (labels["theft_start"] >= earliest).all()
    assert (labels["theft_start"] < data.end).all()
    local = labels["theft_start"].dt.tz_convert(data.timezone)
    assert (local == local.dt.normalize()).all(), "theft must start at a local midnight"


def test_only_configured_attack_types_are_drawn(medium_data):
    utc = pd.date_range(medium_data.start, medium_data.end, freq="h", inclusive="left")
    cfg = TheftAttackConfig(share=0.3, attack_types=("h2", "h5"), min_history_days=10)
    labels = choose_thieves(medium_data["meters"], utc, cfg, np.random.default_rng(3))
    assert set(labels["attack_type"]) == {"h2", "h5"}
    assert len(labels) == round(0.3 * len(medium_data["meters"]))


def test_all_attack_types_occur_with_the_default_config(medium_data):
    assert set(medium_data.labels["attack_type"]) == set(THEFT_ATTACKS)


def test_thieves_cluster_on_a_few_transformers(medium_data):
    meters = medium_data["meters"]
    is_thief = meters["meter_id"].isin(medium_data.labels["meter_id"]).to_numpy()
    tr_codes, tr_of = np.unique(meters["transformer_id"], return_inverse=True)
    top = max(1, round(0.3 * len(tr_codes)))

    def top_share(flags: np.ndarray) -> float:
        per_tr = np.bincount(tr_of, weights=flags, minlength=len(tr_codes))
        return np.sort(per_tr)[::-1][:top].sum() / flags.sum()

    observed = top_share(is_thief)
    rng = np.random.default_rng(0)
    uniform = [top_share(rng.permutation(is_thief)) for _ in range(200)]
    assert observed > np.quantile(uniform, 0.99), (observed, np.quantile(uniform, 0.99))
    assert observed > 0.6


def thief_days(data, attacks: set[str]):
    """(days of each thief's readings (meters, days, 24), start day) for the given attacks."""
    labels = data.labels[data.labels["attack_type"].isin(attacks)]
    rows = pd.Index(data["meters"]["meter_id"]).get_indexer(labels["meter_id"])
    kwh = data.matrix("readings", "kwh")[rows]
    start_day = data.hour_of(labels["theft_start"]) // 24
    return kwh.reshape(len(rows), -1, 24), start_day


def test_flat_day_theft_starts_on_the_labelled_day(medium_data):
    """h5 thieves record one value all day from their theft start, never before (days with a
    reading missing or an interruption are left out)."""
    days, start_day = thief_days(medium_data, {"h5"})
    assert len(days)
    for meter_days, first in zip(days, start_day, strict=True):
        whole = np.isfinite(meter_days).all(axis=1) & (meter_days > 0).all(axis=1)
        flat = np.ptp(np.nan_to_num(meter_days), axis=1) == 0
        assert flat[first:][whole[first:]].all()
        assert not flat[:first][whole[:first]].any()


def test_reducing_thieves_record_less_after_their_start(medium_data):
    days, start_day = thief_days(medium_data, REDUCING_ATTACKS)
    daily = np.nanmean(days, axis=2)
    ratio = [np.nanmean(d[s:]) / np.nanmean(d[:s]) for d, s in zip(daily, start_day, strict=True)]
    assert len(ratio) >= 20
    assert np.median(ratio) < 0.7
    assert np.mean(np.array(ratio) < 1.0) > 0.9


# --------------------------------------------------------------------------- energy balance


def row_of(ids: pd.Series, within: pd.Series) -> np.ndarray:
    rows = pd.Index(within).get_indexer(ids)
    assert (rows >= 0).all()
    return rows


def longest_stuck_run(values: np.ndarray, supplied: np.ndarray) -> int:
    """Longest run of identical consecutive readings over the hours the meter had supply."""
    v = values[supplied & ~np.isnan(values)]
    same = np.r_[False, v[1:] == v[:-1], False].astype(np.int8)
    edges = np.flatnonzero(np.diff(same))
    return int((edges[1::2] - edges[::2]).max()) if len(edges) else 0


@pytest.fixture(scope="module")
def transformer_losses(medium_data) -> pd.DataFrame:
    """Per transformer: share of its metered input energy its meters did not record, the
    attack types of its thieves, and whether one of its meters shows a fault (a register stuck
    on one value, or on zero, for more than a day of supply; an h5 thief is stuck for a day)."""
    meters, tr = medium_data["meters"], medium_data["transformers"]
    kwh = medium_data.matrix("readings", "kwh")
    energy = medium_data.matrix("transformer_telemetry", "energy_kwh")
    tr_row = row_of(meters["transformer_id"], tr["transformer_id"])
    metered = np.bincount(tr_row, weights=np.nansum(kwh, axis=1), minlength=len(tr))
    supplied = energy[tr_row] > 0
    stuck = np.array([longest_stuck_run(kwh[i], supplied[i]) for i in range(len(meters))])
    out = pd.DataFrame(
        {
            "loss": 1.0 - metered / np.nansum(energy, axis=1),
            "faulty_meter": np.bincount(tr_row, weights=stuck > 36, minlength=len(tr)) > 0,
        },
        index=tr["transformer_id"],
    )
    attacks = medium_data.labels.merge(meters, on="meter_id").groupby("transformer_id")
    attacks = attacks["attack_type"].agg(set).reindex(out.index)
    out["attacks"] = [a if isinstance(a, set) else set() for a in attacks]
    return out


def test_honest_transformers_show_only_technical_losses(transformer_losses):
    honest = transformer_losses[
        (transformer_losses["attacks"].str.len() == 0) & ~transformer_losses["faulty_meter"]
    ]
    assert len(honest) >= 20
    assert (honest["loss"] > 0.0).all(), honest["loss"].min()
    assert (honest["loss"] < 0.08).all(), honest["loss"].max()
    assert 0.01 < honest["loss"].median() < 0.06


def test_transformers_with_reducing_thieves_lose_more(transformer_losses):
    clean = ~transformer_losses["faulty_meter"]
    attacks = transformer_losses["attacks"]
    honest = transformer_losses.loc[clean & (attacks.str.len() == 0), "loss"]
    reducing = attacks.apply(lambda s: bool(s & REDUCING_ATTACKS))
    stolen = transformer_losses.loc[clean & reducing, "loss"]
    assert len(stolen) >= 10
    assert stolen.mean() > honest.mean() + 0.03
    assert stolen.median() > honest.quantile(0.75)


# --------------------------------------------------------------------------- outages


def whole_hours(data, start: pd.Timestamp, end: pd.Timestamp) -> slice:
    """Hour indices of the zone's hours [h, h+1) lying entirely inside [start, end)."""
    a = max(0, int(data.hour_of(pd.Series([start.ceil("h")]))[0]))
    b = min(data.hours, int(data.hour_of(pd.Series([end.floor("h")]))[0]))
    return slice(a, max(a, b))


@pytest.mark.parametrize("zone", ["small", "medium"])
@pytest.mark.parametrize("kind", ["load_shedding", "unplanned"])
def test_feeder_interruptions_zero_every_meter_on_the_feeder(zone, kind, request):
    data = request.getfixturevalue(f"{zone}_data")
    kwh = data.matrix("readings", "kwh")
    feeder_of = data.meters_on_grid()["feeder_id"].to_numpy()
    events = data["interruptions"]
    events = events[events["transformer_id"].isna()]  # whole feeders (one transformer: apart)
    checked, lit = 0, []
    for e in events[events["kind"] == kind].itertuples():
        hours = whole_hours(data, e.start, e.end)
        during = kwh[feeder_of == e.feeder_id, hours]
        checked += np.isfinite(during).sum()
        if np.nansum(during) > 0:
            lit.append((e.feeder_id, e.start, e.end, np.nanmax(during)))
    assert checked > 0, f"no whole-hour {kind} interruption to check"
    assert not lit, f"meters record consumption during {kind}: {lit[:5]}"


def test_transformer_failures_zero_its_meters_and_telemetry(medium_data):
    meters, tr = medium_data["meters"], medium_data["transformers"]
    kwh = medium_data.matrix("readings", "kwh")
    tel = {
        c: medium_data.matrix("transformer_telemetry", c)
        for c in ("loading_pct", "energy_kwh", "voltage_v")
    }
    events = medium_data["interruptions"]
    events = events[events["kind"] == "transformer_failure"]
    assert len(events), "no transformer failure to check"
    for e in events.itertuples():
        hours = whole_hours(medium_data, e.start, e.end)
        assert hours.stop - hours.start >= 20, "a repair takes at least a day"
        during = kwh[(meters["transformer_id"] == e.transformer_id).to_numpy(), hours]
        assert np.nansum(during) == 0.0, e
        row = row_of(pd.Series([e.transformer_id]), tr["transformer_id"])[0]
        for name, values in tel.items():
            assert (values[row, hours] == 0.0).all(), (name, e)
        # and the unit is back in service afterwards (unless the period ends first)
        # (the feeder may be shed just after, so look at the next 12 hours)
        if hours.stop + 12 <= medium_data.hours:
            assert (tel["energy_kwh"][row, hours.stop : hours.stop + 12] > 0).any(), e


def test_every_failure_starts_a_transformer_interruption(medium_data):
    failures = medium_data["failures"]
    events = medium_data["interruptions"]
    events = events[events["kind"] == "transformer_failure"]
    assert len(failures) == len(events)
    joined = failures.merge(
        events, left_on=["transformer_id", "timestamp"], right_on=["transformer_id", "start"]
    )
    assert len(joined) == len(failures)
    tr = medium_data["transformers"].set_index("transformer_id")["feeder_id"]
    assert (joined["feeder_id"] == joined["transformer_id"].map(tr)).all()
    hours = (joined["end"] - joined["start"]) / pd.Timedelta(hours=1)
    repair_days = medium_data.zone["config"]["assets"]["repair_days"]
    assert (hours > 0).all() and (hours <= repair_days[1] * 24).all()


# --------------------------------------------------------------------------- load shapes


@pytest.fixture(scope="module")
def honest_kwh(medium_data) -> np.ndarray:
    """Readings (meters, hours) of honest meters in hours untouched by any interruption of
    their feeder or transformer; NaN elsewhere."""
    grid = medium_data.meters_on_grid()
    feeders = pd.Index(grid["feeder_id"].unique())
    trs = pd.Index(grid["transformer_id"].unique())
    out_feeder = np.zeros((len(feeders), medium_data.hours), dtype=bool)
    out_tr = np.zeros((len(trs), medium_data.hours), dtype=bool)
    for e in medium_data["interruptions"].itertuples():
        a = max(0, int(medium_data.hour_of(pd.Series([e.start.floor("h")]))[0]))
        b = int(medium_data.hour_of(pd.Series([e.end.ceil("h")]))[0])
        if pd.isna(e.transformer_id):
            out_feeder[feeders.get_loc(e.feeder_id), a:b] = True
        else:
            out_tr[trs.get_loc(e.transformer_id), a:b] = True
    touched = out_feeder[feeders.get_indexer(grid["feeder_id"])]
    touched |= out_tr[trs.get_indexer(grid["transformer_id"])]
    kwh = medium_data.matrix("readings", "kwh").copy()
    kwh[touched] = np.nan
    kwh[grid["meter_id"].isin(medium_data.labels["meter_id"]).to_numpy()] = np.nan
    return kwh


def segment_rows(data, *segments: str) -> np.ndarray:
    return data["meters"]["segment"].isin(segments).to_numpy()


def test_residential_evening_peak(honest_kwh, medium_data):
    res = honest_kwh[segment_rows(medium_data, "residential_prepaid", "residential_postpaid")]
    hour = medium_data.local_index().hour.to_numpy()
    by_hour = np.array([np.nanmean(res[:, hour == h]) for h in range(24)])
    assert by_hour[18:22].mean() > 1.5 * by_hour.mean()
    assert 18 <= by_hour.argmax() <= 22
    assert by_hour[1:5].mean() < 0.6 * by_hour.mean(), "night should be a trough"


def test_commercial_weekday_daytime_exceeds_sunday(honest_kwh, medium_data):
    com = honest_kwh[segment_rows(medium_data, "commercial")]
    local = medium_data.local_index()
    daytime = (local.hour >= 10) & (local.hour < 16)
    weekday = np.nanmean(com[:, daytime & (local.dayofweek < 5)])
    sunday = np.nanmean(com[:, daytime & (local.dayofweek == 6)])
    assert weekday > 1.5 * sunday


def test_hot_days_raise_commercial_consumption(honest_kwh, medium_data):
    """Weekday mean hourly kWh of each commercial meter correlates with the day's maximum
    temperature of its region (air conditioning)."""
    grid = medium_data.meters_on_grid()
    com = segment_rows(medium_data, "commercial")
    days = medium_data.hours // 24
    weekday = medium_data.local_index()[::24].dayofweek < 5
    hourly = honest_kwh.reshape(len(grid), days, 24)
    # days with under 20 usable hours are left out (an interruption hides part of the day)
    count = np.isfinite(hourly).sum(axis=2)
    daily = np.where(count >= 20, np.nansum(hourly, axis=2) / np.maximum(1, count), np.nan)
    weather = medium_data["weather"]
    temp = weather.pivot(index="region_id", columns="timestamp", values="temperature_c")
    tmax = temp.to_numpy().reshape(len(temp), days, 24).max(axis=2)
    region_row = pd.Index(temp.index).get_indexer(grid["region_id"])
    corr = []
    for i in np.flatnonzero(com):
        ok = weekday & np.isfinite(daily[i])
        if ok.sum() >= 30:
            corr.append(np.corrcoef(daily[i, ok], tmax[region_row[i], ok])[0, 1])
    corr = np.array(corr)
    assert len(corr) >= 20
    assert np.median(corr) > 0.05
    assert (corr > 0).mean() > 0.75


# --------------------------------------------------------------------------- weather


def test_weather_is_plausible_for_cote_divoire(medium_data):
    assert medium_data.zone["country"] == "CI"
    weather = medium_data["weather"]
    local = weather["timestamp"].dt.tz_convert(medium_data.timezone)
    monthly = weather.groupby([weather["region_id"], local.dt.month])["temperature_c"].mean()
    assert monthly.between(22.0, 32.0).all(), monthly
    assert weather["temperature_c"].between(15.0, 42.0).all()
    assert weather["relative_humidity_pct"].between(10.0, 100.0).all()
    night = local.dt.hour.isin([19, 20, 21, 22, 23, 0, 1, 2, 3, 4])
    assert (weather.loc[night, "irradiance_wm2"] == 0.0).all()
    noon = weather.loc[local.dt.hour.isin([11, 12, 13]), "irradiance_wm2"]
    assert noon.median() > 300
    assert (weather["rainfall_mm"] > 0).mean() > 0.01
    # afternoons are warmer than nights
    by_hour = weather.groupby(local.dt.hour)["temperature_c"].mean()
    assert by_hour.loc[13:16].mean() > by_hour.loc[3:6].mean() + 3


# --------------------------------------------------------------------------- prepaid vends


def test_vends_only_for_prepaid_meters_at_a_plausible_rate(medium_data, medium_zone_cfg):
    vends, meters = medium_data["vends"], medium_data["meters"]
    prepaid = meters.loc[meters["segment"] == "residential_prepaid", "meter_id"]
    assert len(prepaid) >= 50
    assert set(vends["meter_id"]) <= set(prepaid)
    assert vends["timestamp"].between(medium_data.start, medium_data.end, inclusive="left").all()
    assert (vends["amount"] > 0).all() and (vends["kwh"] > 0).all()
    months = medium_zone_cfg.days / 30.44
    per_month = vends.groupby("meter_id").size().reindex(prepaid, fill_value=0) / months
    assert 1.0 <= per_month.mean() <= 10.0
    honest = per_month[~per_month.index.isin(medium_data.labels["meter_id"])]
    assert honest.between(1.0, 10.0).all(), honest.describe()
