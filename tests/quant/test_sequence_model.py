"""The opportunity model: window building, shapes, a tiny overfit, early-stopped training with a checkpoint,
and a registry round trip that reproduces the outputs exactly."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from quant.features import FEATURES
from quant.models.registry import Registry, RegistryError
from quant.models.sequence import (
    OpportunityNet,
    SequenceConfig,
    load_sequence_model,
    normalise,
    pad_window,
    predict_frame,
    register_sequence_model,
    train_sequence_model,
    windows,
)

F = len(FEATURES)
SMALL = SequenceConfig(seq_len=6, d_model=32, heads=2, gru_hidden=16, max_epochs=6, patience=2, batch_size=64,
                       max_train_windows=2_000, lr=3e-3)


def synthetic(n_pools: int = 40, steps: int = 60, seed: int = 0) -> pd.DataFrame:
    """Pools whose next moves are an opportunity exactly when ret_1 was positive for the last 3 rows."""
    rng = np.random.default_rng(seed)
    parts = []
    for p in range(n_pools):
        x = rng.normal(size=(steps, F)).astype(np.float32)
        ret = x[:, FEATURES.index("ret_1")]
        run = pd.Series(ret > 0).rolling(3).sum().to_numpy() == 3
        df = pd.DataFrame(x, columns=list(FEATURES))
        df.insert(0, "ts", pd.date_range("2026-01-01", periods=steps, freq="1min"))
        df.insert(0, "pool_id", f"pool{p:03d}")
        df["will_moon"], df["will_rug"] = run.astype(float), 0.0
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


def test_windows_stay_inside_their_pool_and_pad_with_nan():
    frame = pd.DataFrame({"pool_id": ["a"] * 3 + ["b"] * 2, "ts": pd.date_range("2026-01-01", periods=5, freq="1min")})
    for i, f in enumerate(FEATURES):
        frame[f] = np.arange(5, dtype=float) * 10 + i
    w = windows(frame, np.array([2, 3, 4]), seq_len=3)
    assert w.shape == (3, 3, F)
    np.testing.assert_array_equal(w[0, :, 0], [0, 10, 20])  # a's three rows
    assert np.isnan(w[1, :2]).all() and w[1, 2, 0] == 30  # b's first row: two padded rows, never a's
    np.testing.assert_array_equal(w[2, :, 0], [np.nan, 30, 40])
    padded = pad_window(frame[list(FEATURES)].to_numpy()[3:], 3)
    np.testing.assert_array_equal(padded, w[2])  # the live runtime's padding is the training windows'


def test_model_output_shape_and_nan_inputs_are_finite():
    net = OpportunityNet(F, SMALL).eval()
    x = np.random.default_rng(1).normal(size=(7, SMALL.seq_len, F)).astype(np.float32)
    x[0, :3] = np.nan
    scaler = {"center": [0.0] * F, "scale": [1.0] * F}
    with torch.inference_mode():
        out = net(torch.from_numpy(normalise(x, scaler)))
    assert out.shape == (7,) and torch.isfinite(out).all()


def test_tiny_overfit_loss_falls():
    torch.manual_seed(0)
    net = OpportunityNet(F, SMALL)
    x = torch.randn(32, SMALL.seq_len, F)
    y = (torch.rand(32) > 0.5).float()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]  # random labels on 32 rows: only memorisation brings it down


def test_training_learns_a_sequence_rule_keeps_best_epoch_and_checkpoints(tmp_path):
    frame = synthetic()
    ckpt = tmp_path / "best.pt"
    net, scaler, info = train_sequence_model(frame, pd.Timedelta(minutes=2), SMALL, checkpoint=ckpt)
    losses = [e["val_loss"] for e in info["epochs"]]
    assert info["best_val_loss"] == min(losses) < losses[0]
    assert ckpt.exists() and set(torch.load(ckpt, weights_only=True)) == set(net.state_dict())
    assert pd.Timestamp(info["val_start"]) > frame.ts.min()
    test = synthetic(n_pools=10, seed=5).sort_values(["pool_id", "ts"]).reset_index(drop=True)
    rows = np.arange(len(test))
    p = predict_frame(net, scaler, test, rows, SMALL.seq_len)
    y = test.will_moon.to_numpy()
    assert p[y == 1].mean() > p[y == 0].mean() + 0.2  # it saw the three-step run, which a single row cannot


def test_registry_round_trip_reproduces_outputs_exactly(tmp_path):
    frame = synthetic(n_pools=12)
    net, scaler, _ = train_sequence_model(frame, pd.Timedelta(minutes=2), replace(SMALL, max_epochs=1))
    reg = Registry(tmp_path / "registry")
    version = register_sequence_model(reg, net, scaler, SMALL, metrics={"roc_auc": 0.5})
    assert register_sequence_model(reg, net, scaler, SMALL, metrics={"roc_auc": 0.5}) == version
    with pytest.raises(RegistryError, match="no champion"):
        load_sequence_model(reg)
    reg.promote("opportunity_model", version, "test")
    scorer = load_sequence_model(reg)
    assert scorer.version == version and scorer.seq_len == SMALL.seq_len and scorer.features == list(FEATURES)
    assert scorer.manifest["kind"] == "torch" and scorer.manifest["normalisation"] == scaler
    frame = frame.sort_values(["pool_id", "ts"]).reset_index(drop=True)
    rows = np.arange(0, len(frame), 7)
    w = windows(frame, rows, SMALL.seq_len)
    w[0, -1, :4] = np.nan
    got = scorer.predict(w)
    with torch.inference_mode():
        expected = torch.sigmoid(net(torch.from_numpy(normalise(w, scaler)))).numpy()
    np.testing.assert_array_equal(got, expected.astype(np.float64))
    assert ((got > 0) & (got < 1)).all()
    with pytest.raises(ValueError, match="windows must be"):
        scorer.predict(w[:, 1:])
