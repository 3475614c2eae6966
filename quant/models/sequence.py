"""The opportunity model: P(the pool moons within the label horizon and does not rug within it), from the
last `seq_len` feature vectors of a pool.

A linear projection of the features to `d_model`, a sinusoidal positional encoding, a Transformer encoder,
a GRU over its output and a logistic head. Inputs are centred by the training median and scaled by the
interquartile range (heavy-tailed features would swamp a mean and standard deviation), clipped to +-CLIP,
and a missing value (a lag before the pool's first snapshot, or a window padded before it) becomes 0, the
median. `normalise` is that one rule for training and serving.

A window ends at the row being scored and holds only that pool's earlier rows; a pool with fewer than
`seq_len` snapshots is left-padded with NaN rows (`pad_window` does it for the live runtime).
"""

from __future__ import annotations

import copy
import io
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from quant.features import FEATURES

WEIGHTS_FILE = "model.pt"
CLIP = 10.0
TARGET = "opportunity"


@dataclass(frozen=True)
class SequenceConfig:
    """Fixed before looking at any held-out day. `max_train_windows` bounds an epoch's cost on 2 cores."""

    seq_len: int = 16
    d_model: int = 128
    heads: int = 4
    layers: int = 1
    gru_hidden: int = 64
    dropout: float = 0.1
    lr: float = 1e-3
    batch_size: int = 256
    max_epochs: int = 8
    patience: int = 2  # epochs without a better validation loss before stopping
    val_fraction: float = 0.2  # the newest share of training rows, after a purge gap, validates
    max_train_windows: int = 20_000
    seed: int = 7


class OpportunityNet(nn.Module):
    def __init__(self, n_features: int, cfg: SequenceConfig):
        super().__init__()
        self.project = nn.Linear(n_features, cfg.d_model)
        self.register_buffer("position", sinusoid(cfg.seq_len, cfg.d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(cfg.d_model, cfg.heads, dim_feedforward=2 * cfg.d_model,
                                           dropout=cfg.dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.gru = nn.GRU(cfg.d_model, cfg.gru_hidden, batch_first=True)
        self.head = nn.Linear(cfg.gru_hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits [B] for normalised windows [B, seq_len, n_features]."""
        _, last = self.gru(self.encoder(self.project(x) + self.position))
        return self.head(last[-1]).squeeze(-1)


def sinusoid(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10_000.0) / dim))
    pe = torch.zeros(length, dim)
    pe[:, 0::2], pe[:, 1::2] = torch.sin(pos * freq), torch.cos(pos * freq)
    return pe


def opportunity_target(frame: pd.DataFrame) -> np.ndarray:
    """1.0 where the pool moons within the horizon and does not rug within it (regime moon_mission)."""
    return ((frame.will_moon == 1) & (frame.will_rug == 0)).to_numpy(np.float32)


def windows(frame: pd.DataFrame, rows: np.ndarray, seq_len: int, features=FEATURES) -> np.ndarray:
    """[len(rows), seq_len, F] windows ending at `rows` (positions in `frame`, which must be sorted by pool
    then time), NaN where a window reaches before its pool's first row in `frame`."""
    values = frame[list(features)].to_numpy(np.float32)
    pool = frame.pool_id.to_numpy()
    start = np.r_[True, pool[1:] != pool[:-1]]
    first = np.maximum.accumulate(np.where(start, np.arange(len(frame)), 0))
    rows = np.asarray(rows)
    out = np.full((len(rows), seq_len, len(features)), np.nan, np.float32)
    for k in range(seq_len):
        src = rows - (seq_len - 1 - k)
        ok = src >= first[rows]
        out[ok, k] = values[src[ok]]
    return out


def pad_window(rows: np.ndarray, seq_len: int) -> np.ndarray:
    """The last `seq_len` rows of one pool's feature history [n, F], left-padded with NaN when n < seq_len."""
    rows = np.asarray(rows, np.float32)[-seq_len:]
    pad = np.full((seq_len - len(rows), rows.shape[1]), np.nan, np.float32)
    return np.concatenate([pad, rows])


def fit_scaler(x: np.ndarray) -> dict:
    """Median and IQR per feature over every finite value of training windows [B, L, F]."""
    flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
    center = np.nanmedian(flat, axis=0)
    q25, q75 = np.nanpercentile(flat, 25, axis=0), np.nanpercentile(flat, 75, axis=0)
    std = np.nanstd(flat, axis=0)
    scale = np.where(q75 - q25 > 1e-12, q75 - q25, np.where(std > 1e-12, std, 1.0))
    center = np.where(np.isfinite(center), center, 0.0)
    return {"center": center.tolist(), "scale": scale.tolist()}


def normalise(x: np.ndarray, scaler: dict) -> np.ndarray:
    z = (np.asarray(x, np.float32) - np.float32(scaler["center"])) / np.float32(scaler["scale"])
    return np.nan_to_num(np.clip(z, -CLIP, CLIP), nan=0.0).astype(np.float32)


def device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _batches(n: int, size: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, size):
        yield order[i:i + size]


def _loss(net: OpportunityNet, x: torch.Tensor, y: torch.Tensor, size: int) -> float:
    net.eval()
    total = 0.0
    with torch.inference_mode():
        for b in _batches(len(y), 4 * size, None):
            total += float(nn.functional.binary_cross_entropy_with_logits(net(x[b]), y[b], reduction="sum"))
    return total / max(len(y), 1)


def train_sequence_model(frame: pd.DataFrame, purge: pd.Timedelta, cfg: SequenceConfig = SequenceConfig(),
                         checkpoint: Path | None = None) -> tuple[OpportunityNet, dict, dict]:
    """Fit on the labelled rows of `frame` (features, will_moon, will_rug; any order). The newest
    `val_fraction` of rows by time validate, after a purge gap; the best epoch by validation loss is kept
    (and written to `checkpoint` when given). Returns the network, its scaler and the training history."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    frame = frame.sort_values(["pool_id", "ts"], kind="stable").reset_index(drop=True)
    val_start = frame.ts.quantile(1 - cfg.val_fraction)
    train_rows = np.flatnonzero((frame.ts < val_start - purge).to_numpy())
    val_rows = np.flatnonzero((frame.ts >= val_start).to_numpy())
    if len(train_rows) == 0 or len(val_rows) == 0:
        raise ValueError(f"too few rows to split train/validation ({len(train_rows)} / {len(val_rows)})")
    train_rows = train_rows[:: max(1, -(-len(train_rows) // cfg.max_train_windows))]
    val_rows = val_rows[:: max(1, -(-len(val_rows) // max(cfg.max_train_windows // 4, 1)))]
    y_all = opportunity_target(frame)
    xw = windows(frame, train_rows, cfg.seq_len)
    scaler = fit_scaler(xw)
    dev = device()
    x_train = torch.from_numpy(normalise(xw, scaler)).to(dev)
    y_train = torch.from_numpy(y_all[train_rows]).to(dev)
    x_val = torch.from_numpy(normalise(windows(frame, val_rows, cfg.seq_len), scaler)).to(dev)
    y_val = torch.from_numpy(y_all[val_rows]).to(dev)
    net = OpportunityNet(len(FEATURES), cfg).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
    best, best_state, stale, history = math.inf, None, 0, []
    for epoch in range(cfg.max_epochs):
        net.train()
        for b in _batches(len(y_train), cfg.batch_size, rng):
            opt.zero_grad()
            nn.functional.binary_cross_entropy_with_logits(net(x_train[b]), y_train[b]).backward()
            opt.step()
        train_loss, val_loss = _loss(net, x_train, y_train, cfg.batch_size), _loss(net, x_val, y_val, cfg.batch_size)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        if val_loss < best - 1e-5:
            best, best_state, stale = val_loss, copy.deepcopy(net.state_dict()), 0
            if checkpoint is not None:
                torch.save(best_state, checkpoint)
        else:
            stale += 1
            if stale >= cfg.patience:
                break
    net.load_state_dict(best_state)
    net.eval()
    info = {"epochs": history, "best_val_loss": best, "train_windows": len(train_rows), "val_windows": len(val_rows),
            "val_start": str(val_start), "train_positive_rate": float(y_train.mean()),
            "device": str(dev)}
    return net.cpu(), scaler, info


def state_bytes(net: OpportunityNet) -> bytes:
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in net.state_dict().items()}, buf)
    return buf.getvalue()


class SequenceScorer:
    """A registered opportunity model, ready to score windows [B, seq_len, n_features] (NaN allowed)."""

    def __init__(self, net: OpportunityNet, manifest: dict):
        self.net, self.manifest = net.eval(), manifest
        self.version: str = manifest["version"]
        self.features: list[str] = list(manifest["features"])
        self.seq_len: int = int(manifest["seq_len"])
        self.scaler: dict = manifest["normalisation"]

    def predict(self, windows_: np.ndarray) -> np.ndarray:
        x = np.asarray(windows_, np.float32)
        if x.ndim != 3 or x.shape[1:] != (self.seq_len, len(self.features)):
            raise ValueError(f"windows must be [B, {self.seq_len}, {len(self.features)}], got {x.shape}")
        with torch.inference_mode():
            return torch.sigmoid(self.net(torch.from_numpy(normalise(x, self.scaler)))).numpy().astype(np.float64)


def register_sequence_model(registry, net: OpportunityNet, scaler: dict, cfg: SequenceConfig,
                            model: str = "opportunity_model", **manifest_fields) -> str:
    return registry.register_files(model, {WEIGHTS_FILE: state_bytes(net)}, list(FEATURES), kind="torch",
                                   seq_len=cfg.seq_len, normalisation=scaler, hyper_params=asdict(cfg),
                                   target=TARGET, **manifest_fields)


def load_sequence_model(registry, model: str = "opportunity_model", version: str | None = None) -> SequenceScorer:
    """The champion (or `version`) of the opportunity model, verified, on CPU, one thread: the live runtime
    scores a few dozen windows per decision, where threads cost more than they save."""
    torch.set_num_threads(1)
    files, manifest = registry.load_files(model, version, expected_features=list(FEATURES))
    state = torch.load(io.BytesIO(files[WEIGHTS_FILE]), map_location="cpu", weights_only=True)
    cfg = SequenceConfig(**manifest["hyper_params"])
    net = OpportunityNet(len(manifest["features"]), cfg)
    net.load_state_dict(state)
    return SequenceScorer(net, manifest)


def predict_frame(scorer_or_net, scaler: dict | None, frame: pd.DataFrame, rows: np.ndarray, seq_len: int,
                  batch: int = 2048) -> np.ndarray:
    """Scores of `rows` of `frame` (sorted by pool then time), in batches; a net needs its scaler."""
    out = []
    for i in range(0, len(rows), batch):
        w = windows(frame, rows[i:i + batch], seq_len)
        if isinstance(scorer_or_net, SequenceScorer):
            out.append(scorer_or_net.predict(w))
        else:
            with torch.inference_mode():
                out.append(torch.sigmoid(scorer_or_net(torch.from_numpy(normalise(w, scaler)))).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.empty(0)
