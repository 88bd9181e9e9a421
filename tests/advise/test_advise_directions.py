"""advise with several target columns: a latitude/longitude pair gets the von Mises-Fisher
family, angle columns the von Mises family; anything else is still refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import losskit as lk


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _agrees_with_the_family(advice):
    fam = lk.family(advice.family, **advice.family_options)
    assert advice.loss == fam.loss_name and advice.loss_options == fam.loss_options
    assert advice.metrics == fam.default_metrics


@pytest.mark.parametrize("names", [("lat", "lon"), ("Latitude", "Longitude"),
                                   ("latitude", "lng")])
def test_named_latitude_and_longitude_columns_are_locations(rng, names):
    df = pd.DataFrame({names[0]: rng.uniform(-80, 80, 60),
                       names[1]: rng.uniform(-180, 180, 60)})
    advice = lk.advise(df)
    assert (advice.task, advice.family, advice.loss) == ("location", "von_mises_fisher",
                                                         "von_mises_fisher_nll")
    assert advice.metrics == ("great_circle_distance",)
    assert advice.output_layer.startswith("3 units")
    assert [w.code for w in advice.warnings] == ["locations_on_a_sphere"]
    assert "date line" in advice.warnings[0].message and names[0] in advice.warnings[0].message
    _agrees_with_the_family(advice)


def test_longitude_first_is_read_by_name(rng):
    df = pd.DataFrame({"lon": rng.uniform(-180, 180, 40), "lat": rng.uniform(-80, 80, 40)})
    advice = lk.advise(df)
    assert advice.family == "von_mises_fisher"
    assert (advice.stats["latitude_column"], advice.stats["longitude_column"]) == (1, 0)


def test_an_unnamed_pair_is_recognised_from_its_ranges(rng):
    y = np.column_stack([rng.uniform(-80, 80, 40), rng.uniform(-180, 180, 40)])
    assert lk.advise(y).family == "von_mises_fisher"
    # two columns that could be anything (both within ±90) are not guessed
    with pytest.raises(ValueError, match="values other than 0/1"):
        lk.advise(np.column_stack([rng.uniform(-80, 80, 40), rng.uniform(-80, 80, 40)]))


@pytest.mark.parametrize(("scale", "unit"), [(np.pi / 180, "radians"), (1.0, "degrees")])
def test_angle_columns_get_the_von_mises_family_in_their_unit(rng, scale, unit):
    df = pd.DataFrame({"wind_direction": rng.uniform(0, 360, 50) * scale,
                       "Heading": rng.uniform(-180, 180, 50) * scale})
    advice = lk.advise(df)
    assert (advice.task, advice.family, advice.loss) == ("angle", "von_mises",
                                                         "von_mises_nll")
    assert advice.stats["angle_unit"] == unit
    assert advice.output_layer.startswith("4 units")
    assert ("degrees=True" in advice.warnings[0].message) == (unit == "degrees")
    _agrees_with_the_family(advice)


def test_other_several_column_targets_are_still_refused(rng):
    df = pd.DataFrame({"price": rng.normal(size=30) * 100, "angle": rng.uniform(0, 6, 30)})
    with pytest.raises(ValueError, match="Pass one target column"):
        lk.advise(df)
    df = pd.DataFrame({"lat": rng.uniform(-80, 80, 30), "lon": rng.uniform(-180, 180, 30)})
    df.loc[0, "lat"] = 120.0  # not a latitude
    with pytest.raises(ValueError, match="values other than 0/1"):
        lk.advise(df)
