"""The training-health warnings fire on the patterns they name, once each, and not otherwise."""

from __future__ import annotations

import logging

import pytest

from gan_lightning.callbacks.health import TrainingHealthMonitor


def feed(monitor: TrainingHealthMonitor, **series: list[float]) -> None:
    for epoch in range(len(next(iter(series.values())))):
        for name, values in series.items():
            monitor.history[name].append(values[epoch])
        monitor.check_discriminator(epoch)
        monitor.check_generator_loss(epoch)


@pytest.mark.parametrize(
    ("series", "kind"),
    [
        (dict(d_real=[0.99] * 3, d_fake=[0.98] * 3), "saturated"),
        (dict(d_real=[0.01] * 3, d_fake=[0.02] * 3), "saturated"),
        (dict(d_real=[0.99] * 3, d_fake=[0.01] * 3), "d_wins"),
        (dict(g_loss=[1.0, 1.1, 1.3, 1.6, 2.0]), "g_rising"),
    ],
)
def test_each_signal_warns_once(series, kind, caplog):
    monitor = TrainingHealthMonitor(patience=3, rising_epochs=5)
    with caplog.at_level(logging.WARNING):
        feed(monitor, **series)
        feed(monitor, **series)
    assert monitor.warned == {kind}
    assert len(caplog.records) == 1


def test_healthy_runs_stay_quiet():
    monitor = TrainingHealthMonitor(patience=3, rising_epochs=5)
    feed(monitor, d_real=[0.7, 0.99, 0.6, 0.99], d_fake=[0.3, 0.01, 0.4, 0.01])
    feed(monitor, g_loss=[1.0, 1.1, 1.05, 1.2, 1.3, 1.25])
    monitor.spreads = [2.0, 2.5, 1.5]
    monitor.check_diversity(3)
    assert monitor.warned == set()


def test_collapsing_spread_warns():
    monitor = TrainingHealthMonitor(diversity_drop=0.25)
    monitor.spreads = [2.0, 4.0, 0.9]
    monitor.check_diversity(2)
    assert monitor.warned == {"collapse"}
