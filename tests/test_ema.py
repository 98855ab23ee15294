"""The average of G: its arithmetic, its start and ramp-up, its state, and the choice of G."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gan_lightning.callbacks.evaluation import EvaluationCallback
from gan_lightning.ema import EMAOptions, GeneratorAverages, ema_decay, use_averages


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))


def set_weights(module: nn.Module, value: float) -> None:
    with torch.no_grad():
        for p in module.parameters():
            p.fill_(value)


def averaged(averages: GeneratorAverages, name: str = "generator") -> list[torch.Tensor]:
    return [p.clone() for p in averages.copies[name].parameters()]


def with_average(**options) -> tuple[nn.Module, nn.Module]:
    """A module holding G (``net()``) and its average, and that G."""
    model = nn.Module()
    model.generator = net()
    model.averages = GeneratorAverages({"generator": model.generator}, EMAOptions(**options))
    return model, model.generator


def test_the_first_update_copies_g_and_later_ones_move_a_decay_share_towards_it():
    g = net()
    averages = GeneratorAverages({"generator": g}, EMAOptions(decay=0.9, rampup=False))
    set_weights(g, 1.0)
    averages.update({"generator": g}, step=0)
    assert all(torch.equal(p, torch.ones_like(p)) for p in averaged(averages))
    set_weights(g, 3.0)
    averages.update({"generator": g}, step=1)  # 0.9 * 1 + 0.1 * 3
    assert all(torch.allclose(p, torch.full_like(p, 1.2)) for p in averaged(averages))
    averages.update({"generator": g}, step=2)  # 0.9 * 1.2 + 0.1 * 3
    assert all(torch.allclose(p, torch.full_like(p, 1.38)) for p in averaged(averages))


def test_ramp_up_uses_the_smaller_of_the_decay_and_one_plus_n_over_ten_plus_n():
    options = EMAOptions(decay=0.999)
    assert ema_decay(options, 1) == pytest.approx(2 / 11)
    assert ema_decay(options, 90) == pytest.approx(91 / 100)
    assert ema_decay(options, 100_000) == 0.999
    assert ema_decay(EMAOptions(decay=0.5), 100) == 0.5
    g = net()
    averages = GeneratorAverages({"generator": g}, options)
    set_weights(g, 0.0)
    averages.update({"generator": g}, step=0)
    set_weights(g, 11.0)
    averages.update({"generator": g}, step=1)  # decay 2/11: 2/11 * 0 + 9/11 * 11 = 9
    assert all(torch.allclose(p, torch.full_like(p, 9.0)) for p in averaged(averages))


def test_before_start_step_nothing_is_averaged_and_consumers_keep_the_raw_g():
    model, g = with_average(decay=0.9, start_step=5)
    model.averages.update({"generator": g}, step=4)
    assert not model.averages.ready
    with use_averages(model) as used:
        assert not used and model.generator is g
    set_weights(g, 2.0)
    model.averages.update({"generator": g}, step=5)  # the first averaged update: a copy
    assert model.averages.ready
    assert all(torch.equal(p, torch.full_like(p, 2.0)) for p in averaged(model.averages))


def test_with_no_batches_to_reestimate_on_batchnorm_statistics_are_copied_not_averaged():
    g = net()
    model = nn.Module()
    model.generator = g
    model.averages = GeneratorAverages(
        {"generator": g}, EMAOptions(decay=0.99, batchnorm_batches=0)
    )
    model.averages.update({"generator": g}, step=0)
    g.train()
    g(torch.randn(16, 2) * 5 + 3)  # moves G's running statistics
    model.averages.update({"generator": g}, step=1)
    assert not model.averages.recorders  # no hook on G
    with use_averages(model):
        bn, kept = g[1], model.averages.copies["generator"][1]
        assert torch.equal(kept.running_mean, bn.running_mean)
        assert torch.equal(kept.running_var, bn.running_var)
        assert torch.equal(kept.num_batches_tracked, bn.num_batches_tracked)


def statistics_by_hand(average: nn.Module, batches: list[torch.Tensor]) -> tuple:
    """BatchNorm1d's standing statistics after Linear: the mean over the batches of each batch's
    mean and of its unbiased variance."""
    with torch.no_grad():
        outputs = [average[0](x) for x in batches]
    means = torch.stack([o.mean(0) for o in outputs]).mean(0)
    variances = torch.stack([o.var(0, unbiased=True) for o in outputs]).mean(0)
    return means, variances


def test_the_average_s_batchnorm_statistics_are_its_own_on_g_s_last_training_inputs():
    model, g = with_average(decay=0.5, batchnorm_batches=2)
    model.averages.update({"generator": g}, step=0)
    set_weights(g[0], 3.0)
    model.averages.update({"generator": g}, step=1)  # the average's Linear is now not G's
    torch.manual_seed(1)
    batches = [torch.randn(8, 2) * (i + 1) for i in range(3)]
    g.train()
    for x in batches:
        g(x)
    g.eval()
    g(torch.randn(8, 2) + 100)  # not a training call: not recorded
    average = model.averages.copies["generator"].eval()
    means, variances = statistics_by_hand(average, batches[1:])  # the last two
    with use_averages(model):
        assert torch.allclose(average[1].running_mean, means, atol=1e-6)
        assert torch.allclose(average[1].running_var, variances, atol=1e-5)
        assert int(average[1].num_batches_tracked) == 2
    assert not average.training and average[1].momentum == 0.1  # left as it was
    assert not torch.allclose(g[1].running_mean, means)  # G keeps its own statistics


def test_a_state_dict_holds_reestimated_statistics_and_draws_nothing_from_the_rng():
    torch.manual_seed(0)
    g = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.5), nn.BatchNorm1d(3))
    averages = GeneratorAverages({"generator": g}, EMAOptions(decay=0.5))
    g.train()
    g(torch.randn(8, 2) + 4)
    averages.update({"generator": g}, step=0)
    copied = averages.copies["generator"][2].running_mean.clone()
    torch.manual_seed(7)
    state = averages.state_dict()
    drawn_after = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(drawn_after, torch.rand(3))
    assert not torch.equal(state["copies.generator.2.running_mean"], copied)


def test_the_recorded_inputs_of_a_checkpoint_give_the_same_statistics_after_a_restore():
    g = net()
    averages = GeneratorAverages({"generator": g}, EMAOptions(decay=0.9, batchnorm_batches=4))
    g.train()
    for step in range(3):
        g(torch.randn(8, 2) * (step + 1))
        averages.update({"generator": g}, step)
    saved, inputs = averages.state_dict(), averages.recorded_inputs()
    restored = GeneratorAverages({"generator": net()}, EMAOptions(decay=0.9, batchnorm_batches=4))
    restored.restore_inputs(inputs)
    restored.load_state_dict(saved)
    for average in (averages, restored):
        average.update({"generator": g}, 3)  # the weights move: the next use re-estimates
    assert all(
        torch.equal(a, b)
        for a, b in zip(averages.state_dict().values(), restored.state_dict().values(), strict=True)
    )


def test_inputs_recorded_under_autocast_are_cast_to_the_average_s_dtype():
    model, g = with_average(decay=0.9)
    g.train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        code = nn.Linear(2, 2)(torch.randn(8, 2))  # a conditioning code made under autocast
        g(code)
    assert code.dtype == torch.bfloat16
    model.averages.update({"generator": g}, step=0)
    state = model.averages.state_dict()  # re-estimates outside autocast: no dtype mismatch
    assert state["copies.generator.1.running_mean"].dtype == torch.float32
    assert int(state["copies.generator.1.num_batches_tracked"]) == 1


def test_a_batch_g_ran_on_twice_is_saved_once():
    model, g = with_average(decay=0.9)
    g.train()
    x = torch.randn(8, 2)
    g(x)  # D's update
    g(x)  # G's update, the same batch (Pix2Pix)
    g(torch.randn(8, 2))
    ((first,), _), ((second,), _), ((third,), _) = model.averages.recorded_inputs()["generator"]
    assert first is second and third is not first


def test_an_average_converted_to_syncbatchnorm_stops_recording_and_keeps_copied_statistics():
    model, g = with_average(decay=0.9)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # what trainer.sync_batchnorm does
    g = model.generator
    g.train()
    g(torch.randn(8, 2) + 5)
    model.averages.update({"generator": g}, step=0)
    with use_averages(model):
        average = model.generator
    assert model.averages.recorded_inputs() == {}
    assert torch.equal(average[1].running_mean, g[1].running_mean)
    g(torch.randn(8, 2))  # no longer recorded
    assert model.averages.recorded_inputs() == {}


def test_the_copies_need_no_gradient_and_do_not_share_storage_with_g():
    g = net()
    averages = GeneratorAverages({"generator": g}, EMAOptions(decay=0.99))
    assert not any(p.requires_grad for p in averages.parameters())
    assert all(p.requires_grad for p in g.parameters())
    averages.update({"generator": g}, step=0)
    set_weights(g, 7.0)
    assert not any(torch.equal(p, torch.full_like(p, 7.0)) for p in averaged(averages))


def test_use_averages_swaps_the_generators_in_and_back_even_on_error():
    model, g = with_average(decay=0.9)
    model.averages.update({"generator": g}, step=0)
    keys = list(model.state_dict())
    with use_averages(model) as used:
        assert used and model.generator is model.averages.copies["generator"]
    assert model.generator is g
    with use_averages(model, enabled=False) as used:
        assert not used and model.generator is g
    with pytest.raises(RuntimeError), use_averages(model):
        raise RuntimeError
    assert model.generator is g
    assert list(model.state_dict()) == keys


class FirstWeight:
    """A metric that reports the first weight of the generator it is given."""

    def check(self, inputs: SimpleNamespace) -> None:
        pass

    def compute(self, inputs: SimpleNamespace) -> dict[str, float]:
        return {"w": float(inputs.generator[0].weight.flatten()[0])}


@pytest.mark.parametrize("keep_average", [True, False])
def test_the_evaluation_scores_the_average_and_on_request_the_raw_g(monkeypatch, keep_average):
    g = net()
    model = nn.Module()
    model.generator = g
    if keep_average:
        model.averages = GeneratorAverages({"generator": g}, EMAOptions(decay=0.9))
        set_weights(g, 1.0)
        model.averages.update({"generator": g}, step=0)
    set_weights(g, 2.0)
    logged = {}
    model.log_dict = lambda values, **_: logged.update(values)
    monkeypatch.setattr(
        EvaluationCallback,
        "inputs",
        lambda self, module, _: SimpleNamespace(generator=module.generator),
    )
    trainer = SimpleNamespace(fast_dev_run=False, current_epoch=0, datamodule=None)
    for raw_generator in (False, True):
        logged.clear()
        EvaluationCallback([FirstWeight()], raw_generator=raw_generator).on_train_epoch_end(
            trainer, model
        )
        if keep_average:
            expected = {"eval/w": 1.0, "eval/raw/w": 2.0} if raw_generator else {"eval/w": 1.0}
        else:  # nothing to compare: the raw G is the one scored
            expected = {"eval/w": 2.0}
        assert logged == expected


def test_a_state_dict_restores_the_average_and_its_counter():
    g = net()
    averages = GeneratorAverages({"generator": g}, EMAOptions(decay=0.9))
    for step in range(3):
        set_weights(g, float(step))
        averages.update({"generator": g}, step)
    restored = GeneratorAverages({"generator": net()}, EMAOptions(decay=0.9))
    restored.load_state_dict(averages.state_dict())
    assert int(restored.updates) == 3 and restored.ready
    set_weights(g, 10.0)
    averages.update({"generator": g}, 3)
    restored.update({"generator": g}, 3)
    assert all(
        torch.equal(a, b) for a, b in zip(averaged(averages), averaged(restored), strict=True)
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [("decay", 1.0), ("decay", 0.0), ("start_step", -1), ("batchnorm_batches", -1)],
)
def test_bad_options_are_refused(key, value):
    with pytest.raises(ValueError, match=f"ema.{key}"):
        EMAOptions(**{"decay": 0.9, key: value})
