"""The registry: versions and manifests, verified loading, champion/challenger, atomic pointer, rollback, CLI."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from quant.models import promotion
from quant.models.metrics import recall_at, roc_auc
from quant.models.registry import CHAMPION, Registry, RegistryError, main
from quant.models.specs import ModelSpec, OperatingPoint
from quant.models.train import fit_weighted, predict, train_booster

SPEC = ModelSpec("toy_model", "y", ("signal", "noise"), "binary:logistic", rounds=15)


def toy_frame(seed: int, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    return pd.DataFrame({"signal": signal, "noise": rng.normal(size=n),
                         "y": (signal + rng.normal(scale=0.7, size=n) > 0).astype(float)})


@pytest.fixture(scope="module")
def boosters():
    """A model that learned the signal, and one trained on shuffled labels (no skill)."""
    frame = toy_frame(1)
    shuffled = frame.assign(y=np.random.default_rng(2).permutation(frame.y.to_numpy()))
    return train_booster(SPEC, frame), train_booster(SPEC, shuffled)


@pytest.fixture
def reg(tmp_path) -> Registry:
    return Registry(tmp_path / "registry")


def register(reg: Registry, booster: xgb.Booster, features=SPEC.features) -> str:
    return reg.register(SPEC.name, booster, list(features), metrics={"roc_auc": 0.7},
                        training_window={"train_start": "2026-01-01"}, data_fingerprint="abc", code_version="test")


def test_register_writes_model_and_manifest(reg, boosters):
    good, bad = boosters
    v1, v2 = register(reg, good), register(reg, bad)
    assert (v1, v2) == ("v0001", "v0002")
    manifest = reg.manifest(SPEC.name, v1)
    assert manifest["features"] == ["signal", "noise"] and manifest["file"] == "model.ubj"
    blob = (reg.root / SPEC.name / v1 / "model.ubj").read_bytes()
    import hashlib
    assert manifest["sha256"] == hashlib.sha256(blob).hexdigest()
    assert register(reg, good) == v1  # the same model again is not a new version
    loaded = reg.load(SPEC.name, v1, expected_features=["signal", "noise"])
    x = xgb.DMatrix(toy_frame(3)[["signal", "noise"]].to_numpy(), feature_names=["signal", "noise"])
    np.testing.assert_array_equal(loaded.booster.predict(x), good.predict(x))
    assert not list((reg.root / SPEC.name).glob(".tmp-*"))


def test_corrupt_file_is_refused(reg, boosters):
    v = register(reg, boosters[0])
    path = reg.root / SPEC.name / v / "model.ubj"
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(RegistryError, match="corrupt"):
        reg.load(SPEC.name, v)


def test_feature_mismatch_is_refused(reg, boosters):
    v = register(reg, boosters[0])
    with pytest.raises(RegistryError, match="feature list mismatch"):
        reg.load(SPEC.name, v, expected_features=["noise", "signal"])  # same names, other order
    with pytest.raises(RegistryError, match="missing"):
        reg.load(SPEC.name, v, expected_features=["signal", "noise", "volume"])


def test_promotion_and_refusal_on_the_same_holdout(reg, boosters):
    good, bad = boosters
    holdout = toy_frame(4)
    v_bad, v_good = register(reg, bad), register(reg, good)
    first = promotion.decide(reg, SPEC, v_bad, holdout, margin=0.01)
    assert first.promote and first.reason == "no champion yet"
    promotion.apply(reg, first)
    assert reg.champion(SPEC.name) == v_bad
    better = promotion.decide(reg, SPEC, v_good, holdout, margin=0.01)
    assert better.promote and better.challenger_score > better.champion_score + 0.01
    promotion.apply(reg, better)
    assert reg.champion(SPEC.name) == v_good
    worse = promotion.decide(reg, SPEC, v_bad, holdout, margin=0.01)
    assert not worse.promote and "does not beat champion" in worse.reason
    assert worse.champion_score == pytest.approx(better.challenger_score)  # the same rows scored both
    promotion.apply(reg, worse)
    assert reg.champion(SPEC.name) == v_good
    same = promotion.decide(reg, SPEC, v_good, holdout, margin=0.01)
    assert not same.promote and "already the champion" in same.reason


def test_margin_blocks_a_tie(reg, boosters):
    good, _ = boosters
    v1 = register(reg, good)
    reg.promote(SPEC.name, v1, "first")
    retrained = train_booster(SPEC.__class__(**{**SPEC.__dict__, "rounds": 16}), toy_frame(1))
    v2 = register(reg, retrained)
    decision = promotion.decide(reg, SPEC, v2, toy_frame(4), margin=0.05)
    assert not decision.promote and abs(decision.challenger_score - decision.champion_score) < 0.05


def test_rollback_restores_the_previous_champion(reg, boosters):
    v1, v2 = register(reg, boosters[0]), register(reg, boosters[1])
    reg.promote(SPEC.name, v1, "first")
    reg.promote(SPEC.name, v2, "second")
    assert reg.rollback(SPEC.name) == v1
    assert reg.champion(SPEC.name) == v1
    assert reg.pointer(SPEC.name)["reason"] == f"rollback from {v2}"
    assert reg.rollback(SPEC.name, to=v2) == v2
    with pytest.raises(RegistryError, match="no version v0009"):
        reg.rollback(SPEC.name, to="v0009")


def test_rollback_without_history_is_refused(reg, boosters):
    v1 = register(reg, boosters[0])
    with pytest.raises(RegistryError, match="no champion"):
        reg.rollback(SPEC.name)
    reg.promote(SPEC.name, v1, "first")
    with pytest.raises(RegistryError, match="no earlier champion"):
        reg.rollback(SPEC.name)


def test_champion_switch_is_atomic_for_readers(reg, boosters):
    v1, v2 = register(reg, boosters[0]), register(reg, boosters[1])
    reg.promote(SPEC.name, v1, "start")
    path = reg.root / SPEC.name / CHAMPION
    seen, errors, stop = set(), [], threading.Event()

    def reader():
        while not stop.is_set():
            try:
                seen.add(json.loads(path.read_text())["version"])
            except Exception as err:  # a torn or missing pointer would land here
                errors.append(repr(err))

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        reg.promote(SPEC.name, v2 if i % 2 == 0 else v1, f"switch {i}")
    stop.set()
    t.join()
    assert errors == [] and seen == {v1, v2}
    assert not [p for p in path.parent.iterdir() if ".tmp-" in p.name]


def test_failed_write_leaves_the_old_champion(reg, boosters, monkeypatch):
    v1, v2 = register(reg, boosters[0]), register(reg, boosters[1])
    reg.promote(SPEC.name, v1, "start")

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        reg.promote(SPEC.name, v2, "never lands")
    monkeypatch.undo()
    assert reg.champion(SPEC.name) == v1
    assert not [p for p in (reg.root / SPEC.name).iterdir() if ".tmp-" in p.name]


def test_cli_lists_and_rolls_back(reg, boosters, capsys):
    v1, v2 = register(reg, boosters[0]), register(reg, boosters[1])
    reg.promote(SPEC.name, v1, "first")
    reg.promote(SPEC.name, v2, "second")
    main(["--root", str(reg.root), "list"])
    out = capsys.readouterr().out
    assert f"* {v2}" in out and f"  {v1}" in out and "roc_auc=0.7000" in out
    main(["--root", str(reg.root), "rollback", SPEC.name])
    assert f"champion is now {v1}" in capsys.readouterr().out
    assert reg.champion(SPEC.name) == v1
    with pytest.raises(SystemExit, match="no version"):
        main(["--root", str(reg.root), "rollback", SPEC.name, "--to", "v0042"])


def test_register_files_round_trip_dedupe_and_verification(reg, boosters):
    files = {"model.pt": b"\x00weights", "extra.json": b'{"a": 1}'}
    v1 = reg.register_files("seq", files, ["a", "b"], kind="torch", seq_len=8)
    assert reg.register_files("seq", dict(files), ["a", "b"], kind="torch", seq_len=8) == v1  # same content
    assert reg.register_files("seq", {**files, "model.pt": b"other"}, ["a", "b"], kind="torch") == "v0002"
    loaded, manifest = reg.load_files("seq", v1, expected_features=["a", "b"])
    assert loaded == files and manifest["kind"] == "torch" and manifest["seq_len"] == 8
    import hashlib
    assert manifest["files"]["model.pt"] == hashlib.sha256(b"\x00weights").hexdigest()
    with pytest.raises(RegistryError, match="feature list mismatch"):
        reg.load_files("seq", v1, expected_features=["b", "a"])
    (reg.root / "seq" / v1 / "extra.json").write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="extra.json is corrupt"):
        reg.load_files("seq", v1)
    with pytest.raises(RegistryError, match="use load_files"):
        reg.load("seq", "v0002")
    # An XGBoost version without "kind" reads as xgboost and loads through load_files too.
    xv = register(reg, boosters[0])
    blobs, xm = reg.load_files(SPEC.name, xv)
    from quant.models.registry import kind
    assert kind(xm) == "xgboost" and list(blobs) == ["model.ubj"]


def test_a_model_with_an_operating_point_is_judged_on_it_before_roc_auc(reg):
    """The rug model's rule: a challenger that reaches the recall goal at the threshold on the held-out rows
    replaces a champion that does not, whatever their ROC-AUC; the reverse is refused."""
    spec = ModelSpec("toy_model", "y", ("signal", "noise"), "binary:logistic", rounds=15, balance_classes=True,
                     operating_point=OperatingPoint(threshold=0.5, recall=0.9))
    frame, holdout = toy_frame(1), toy_frame(4)
    plain, leaning = fit_weighted(spec, frame, 1.0), fit_weighted(spec, frame, 4.0)  # the second flags more

    def recall(booster) -> float:
        return recall_at(holdout.y, predict(booster, holdout, spec.features), 0.5)

    assert recall(plain) < 0.9 <= recall(leaning)
    v_plain, v_leaning = register(reg, plain), register(reg, leaning)
    reg.promote(spec.name, v_plain, "first")
    up = promotion.decide(reg, spec, v_leaning, holdout, margin=0.01)
    assert up.promote and up.metric == "recall_at_0.5>=0.9_then_roc_auc"
    auc = {b: roc_auc(holdout.y, predict(b, holdout, spec.features)) for b in (plain, leaning)}
    assert up.challenger_score == pytest.approx(1 + auc[leaning]) and up.champion_score == pytest.approx(auc[plain])
    promotion.apply(reg, up)
    down = promotion.decide(reg, spec, v_plain, holdout, margin=0.01)
    assert not down.promote and reg.champion(spec.name) == v_leaning


def _pointer(reg: Registry, obj) -> None:
    (reg.root / SPEC.name / CHAMPION).write_text(obj if isinstance(obj, str) else json.dumps(obj))


@pytest.mark.parametrize("pointer, reason", [
    ({"version": "../other_model/v0001"}, "not a registry version"),
    ({"version": "v0001/"}, "not a registry version"),
    ({"version": 1}, "not a registry version"),
    ({"promoted_at": "2026-01-01"}, "names version None"),
    ("[\"v0001\"]", "not a JSON object"),
    ("{\"version\": ", "not valid JSON"),
])
def test_a_tampered_pointer_is_a_refusal_naming_what_is_wrong(reg, boosters, pointer, reason):
    register(reg, boosters[0])
    _pointer(reg, pointer)
    with pytest.raises(RegistryError, match=reason):
        reg.champion(SPEC.name)
    reg.promote(SPEC.name, "v0001", "repair")  # a corrupt pointer is replaced, not carried into the history
    assert reg.champion(SPEC.name) == "v0001" and reg.pointer(SPEC.name)["history"] == []


def test_a_manifest_must_belong_to_its_folder_and_carry_its_fields(reg, boosters):
    import shutil
    v1 = register(reg, boosters[0])
    shutil.copytree(reg.root / SPEC.name / v1, reg.root / SPEC.name / "v0002")  # a version copied by hand
    with pytest.raises(RegistryError, match="version='v0001', not 'v0002'"):
        reg.load(SPEC.name, "v0002")
    other = reg.root / "other_model"
    shutil.copytree(reg.root / SPEC.name, other)
    with pytest.raises(RegistryError, match="model='toy_model', not 'other_model'"):
        reg.load("other_model", v1)
    manifest_path = reg.root / SPEC.name / v1 / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for field in ("sha256", "file", "features"):
        manifest_path.write_text(json.dumps({k: v for k, v in manifest.items() if k != field}))
        with pytest.raises(RegistryError, match=f"has no '{field}'"):
            reg.load(SPEC.name, v1)
    (reg.root / SPEC.name / "v0001 ").mkdir()  # names the registry never writes are not versions
    (reg.root / SPEC.name / "v١٢٣٤").mkdir()
    assert reg.versions(SPEC.name) == ["v0001", "v0002"]
