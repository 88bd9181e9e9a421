"""Predicting a location on the globe: MSE on degrees fails at the date line and the poles.

A reader asked which loss to use to predict a latitude and longitude, and was told "perhaps
MSE". This example measures why not. The task: where will a drifting buoy be tomorrow, given
where it is today (the drift is a rotation of the globe, plus a little noise)? The same small
network (PyTorch, float64, full-batch Adam) is trained three ways:

* ``mse_degrees``: two outputs, the latitude and longitude in degrees (scaled by 90 and 180),
  mean squared error: what the reader was told;
* ``mse_vectors``: three outputs, the mean squared error on the unit vector of the location;
* ``von_mises_fisher``: three raw outputs, :func:`losskit.von_mises_fisher_nll` (the mean
  direction scaled by the concentration), the family :func:`losskit.advise` recommends.

Each is scored by :func:`losskit.metrics.great_circle_distance` (km) on held-out buoys, split
into those within 10 degrees of longitude of the date line, within 15 degrees of latitude of a
pole, and the rest. Near the date line the longitude jumps from 180 to -180, a discontinuity
that a smooth network cannot follow, so MSE on degrees predicts the average: the other side
of the globe. Near the poles a degree of longitude is a few km, the MSE on degrees spends its
effort on longitudes that do not matter, and a track over the pole jumps by 180 degrees.

Run: ``python examples/locations_on_the_globe.py`` (about 10 seconds).
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import numpy as np

import losskit as lk

METHODS = ("mse_degrees", "mse_vectors", "von_mises_fisher")
#: how close to the date line (degrees of longitude) and to a pole (degrees of latitude)
DATE_LINE, POLE = 10.0, 15.0
HIDDEN = 32
#: the von Mises-Fisher raw outputs are the network's times this: a concentration of order
#: 100 from the start (as one initialises a variance), reachable without huge weights
KAPPA_SCALE = 100.0


def rotation(axis: np.ndarray, degrees: float) -> np.ndarray:
    """The rotation matrix about ``axis`` by ``degrees`` (Rodrigues' formula)."""
    k = axis / np.linalg.norm(axis)
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    a = math.radians(degrees)
    return np.eye(3) + math.sin(a) * K + (1.0 - math.cos(a)) * K @ K


def buoys(n: int, seed: int = 0, *, drift: float = 8.0, noise_km: float = 100.0
          ) -> tuple[np.ndarray, np.ndarray]:
    """``(today, tomorrow)`` as unit vectors: positions uniform on the sphere, moved by a
    rotation of ``drift`` degrees about a tilted axis plus Gaussian noise of ``noise_km``."""
    rng = np.random.default_rng(seed)
    today = rng.normal(size=(n, 3))
    today /= np.linalg.norm(today, axis=1, keepdims=True)
    moved = today @ rotation(np.array([0.3, -0.2, 1.0]), drift).T
    moved += rng.normal(scale=noise_km / lk.metrics.EARTH_RADIUS_KM, size=(n, 3))
    return today, moved / np.linalg.norm(moved, axis=1, keepdims=True)


def _network(out: int, seed: int):
    import torch

    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(3, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.Tanh(), torch.nn.Linear(HIDDEN, out)).double()


def fit(method: str, today: np.ndarray, tomorrow: np.ndarray, *, steps: int = 500,
        seed: int = 0) -> np.ndarray:
    """Train one network; returns its function ``today (n, 3) -> predicted (lat, lon)``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small matrices: one thread is faster than several
    try:
        return _fit(method, today, tomorrow, steps, seed)
    finally:
        torch.set_num_threads(threads)


def _fit(method: str, today: np.ndarray, tomorrow: np.ndarray, steps: int, seed: int):
    import torch

    x = torch.tensor(today)
    if method == "mse_degrees":
        ll = lk.unit_vector_to_lat_lon(tomorrow)
        target = torch.tensor(ll / np.array([90.0, 180.0]))
    else:
        target = torch.tensor(tomorrow)
    net = _network(2 if method == "mse_degrees" else 3, seed)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.01)
    for _ in range(steps):
        optimiser.zero_grad()
        out = net(x)
        if method == "von_mises_fisher":
            loss = lk.von_mises_fisher_nll(target, KAPPA_SCALE * out, check_values=False)
        else:
            loss = lk.mean_squared_error(target, out, check_values=False)
        loss.backward()
        optimiser.step()

    def predict(points: np.ndarray):
        with torch.no_grad():
            out = net(torch.tensor(points)).numpy()
        if method == "mse_degrees":
            lat = np.clip(out[:, 0] * 90.0, -90.0, 90.0)
            lon = (out[:, 1] * 180.0 + 180.0) % 360.0 - 180.0
            return np.column_stack([lat, lon])
        return lk.unit_vector_to_lat_lon(out)  # the direction of the raw outputs

    return predict


@dataclass
class Result:
    """Mean great-circle error (km) of each method on each group of held-out buoys."""

    errors: dict[str, dict[str, float]]
    counts: dict[str, int]


def groups(true_ll: np.ndarray) -> dict[str, np.ndarray]:
    near_line = np.abs(true_ll[:, 1]) > 180.0 - DATE_LINE
    near_pole = np.abs(true_ll[:, 0]) > 90.0 - POLE
    return {"date line": near_line, "poles": near_pole, "elsewhere": ~near_line & ~near_pole}


def run(n_train: int = 2000, n_test: int = 2000, steps: int = 500, seed: int = 0) -> Result:
    today, tomorrow = buoys(n_train, seed)
    test_today, test_tomorrow = buoys(n_test, seed + 1)
    true_ll = lk.unit_vector_to_lat_lon(test_tomorrow)
    masks = groups(true_ll)
    errors: dict[str, dict[str, float]] = {}
    for method in METHODS:
        predicted = fit(method, today, tomorrow, steps=steps, seed=seed)(test_today)
        errors[method] = {name: float(lk.metrics.great_circle_distance(true_ll[m],
                                                                       predicted[m]))
                          for name, m in masks.items()}
    return Result(errors, {name: int(m.sum()) for name, m in masks.items()})


def main(argv: list[str] | None = None) -> Result:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer buoys and steps")
    args = parser.parse_args(argv)
    result = run(1000, 1000, 300) if args.quick else run()
    names = list(result.counts)
    print("mean great-circle error of held-out buoys, km")
    print(f"  {'loss':<18}" + "".join(f"{f'{n} ({result.counts[n]})':>18}" for n in names))
    for method in METHODS:
        print(f"  {method:<18}" + "".join(f"{result.errors[method][n]:>18.0f}" for n in names))
    return result


if __name__ == "__main__":
    main()
