"""The model registry: versioned model files with their manifests, and a champion pointer per model.

Layout, under a root directory:
    <model>/<version>/model.ubj       XGBoost's own binary JSON (never pickle)
    <model>/<version>/manifest.json   metrics, feature list and order, training window, data fingerprint,
                                      code version, reference histograms (features and predictions), sha256
    <model>/champion                  {"version", "promoted_at", "reason", "history"}: replaced atomically
    <model>/candidate                 {"version", "marked_at"}: the newest trained version awaiting promotion

Models that are not one XGBoost file (a torch state_dict, a stable-baselines3 zip) are stored with
`register_files`: several named files, each with its sha256 in the manifest's "files", and a "kind"
("torch", "sb3"; manifests without one are "xgboost"). `load_files` returns the verified bytes.

A version directory is written under a temporary name and renamed into place, and the champion pointer is
written to a temporary file and `os.replace`d, so a reader (the live runtime) sees the old state or the new,
never half of either. Loading verifies the file's hash and the feature list.

Nothing read from the root is trusted: a version name must match VERSION (`v0001`, no path), a pointer or
manifest that is not the JSON object it should be, lacks a field, or names another model or version than the
folder it lives in (a copied or moved version folder) is a RegistryError naming the file and the field.

CLI: `python -m quant.models.registry list [--model M]` and `python -m quant.models.registry rollback M [--to VERSION]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import xgboost as xgb

MODEL_FILE = "model.ubj"
MANIFEST = "manifest.json"
CHAMPION = "champion"
CANDIDATE = "candidate"
VERSION = re.compile(r"v[0-9]{4,}")  # what _next_version writes; matched whole, so no "/", ".." or spaces


class RegistryError(RuntimeError):
    """A registry entry that is missing, corrupt, or does not match what the caller expects."""


@dataclass(frozen=True)
class LoadedModel:
    booster: xgb.Booster
    manifest: dict

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def features(self) -> list[str]:
        return self.manifest["features"]


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Registry:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    # ---- versions ---------------------------------------------------------------------------------------

    def register(self, model: str, booster: xgb.Booster, features: list[str], **manifest_fields) -> str:
        """Store a new version and return its name; an identical model (same bytes and features) already in
        the registry is returned instead of stored twice, so a retrain on the same data changes nothing."""
        blob = bytes(booster.save_raw("ubj"))
        digest = sha256_bytes(blob)
        for version, m in self._valid_manifests(model):
            if m["sha256"] == digest and m["features"] == list(features):
                return version
        return self._write_version(model, {MODEL_FILE: blob}, {"file": MODEL_FILE, "sha256": digest,
                                                                "features": list(features), **manifest_fields})

    def register_files(self, model: str, files: dict[str, bytes], features: list[str], kind: str,
                       **manifest_fields) -> str:
        """Store named files as a new version (written and renamed into place like `register`); the same
        files and features already stored return that version. The manifest's "sha256" hashes the files'
        hashes, so tools that list one digest per version keep working."""
        if not files or MANIFEST in files:
            raise RegistryError(f"{model}: files must be non-empty and must not include {MANIFEST}")
        hashes = {name: sha256_bytes(blob) for name, blob in sorted(files.items())}
        digest = sha256_bytes(json.dumps(hashes, sort_keys=True).encode())
        for version, m in self._valid_manifests(model):
            if m.get("files") == hashes and m["features"] == list(features) and m.get("kind") == kind:
                return version
        return self._write_version(model, files, {"kind": kind, "files": hashes, "sha256": digest,
                                                  "features": list(features), **manifest_fields})

    def _valid_manifests(self, model: str):
        """(version, manifest) of each version whose manifest verifies; a tampered one is no match to dedupe on."""
        for version in self.versions(model):
            try:
                yield version, self.manifest(model, version)
            except RegistryError:
                continue

    def _write_version(self, model: str, files: dict[str, bytes], fields: dict) -> str:
        """Write `files` and a manifest of `fields` (after "model", "version" and "created_at") as the next
        version: into a temporary folder, then renamed into place, so the version appears whole or not at
        all. Returns the version's name."""
        model_dir = self.root / model
        model_dir.mkdir(parents=True, exist_ok=True)
        version = self._next_version(model)
        tmp = model_dir / f".tmp-{version}-{uuid.uuid4().hex}"
        tmp.mkdir()
        for name, blob in files.items():
            (tmp / name).write_bytes(blob)
        manifest = {"model": model, "version": version, "created_at": _now(), **fields}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, default=_json_default))
        os.replace(tmp, model_dir / version)  # a directory rename: the version appears whole or not at all
        return version

    def load_files(self, model: str, version: str | None = None,
                   expected_features: list[str] | None = None) -> tuple[dict[str, bytes], dict]:
        """The files of a version (the champion by default) and its manifest, after checking every file's
        sha256 and, when given, that the features are exactly `expected_features` in order. An XGBoost
        version (no "files" in its manifest) returns its one model file."""
        version = version or self.champion(model)
        if version is None:
            raise RegistryError(f"{model}: no champion to load and no version named")
        manifest = self.manifest(model, version)
        hashes = manifest.get("files") or {manifest["file"]: manifest["sha256"]}
        files = {}
        for name, expected in hashes.items():
            path = self.root / model / version / name
            if not path.exists():
                raise RegistryError(f"{model} {version}: file {path} is missing")
            blob = path.read_bytes()
            if sha256_bytes(blob) != expected:
                raise RegistryError(f"{model} {version}: {path} is corrupt: sha256 {sha256_bytes(blob)[:12]}... "
                                    f"does not match the manifest's {expected[:12]}...")
            files[name] = blob
        _check_features(model, version, manifest, expected_features)
        return files, manifest

    def _next_version(self, model: str) -> str:
        numbers = [int(v[1:]) for v in self.versions(model)]
        return f"v{max(numbers, default=0) + 1:04d}"

    def versions(self, model: str) -> list[str]:
        d = self.root / model
        if not d.exists():
            return []
        return sorted(p.name for p in d.iterdir() if p.is_dir() and VERSION.fullmatch(p.name))

    def models(self) -> list[str]:
        """Model names: directories of the root, except `_`-prefixed ones (evaluation plots live there)."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))

    def manifest(self, model: str, version: str) -> dict:
        """The manifest of `version`, after checking that it is the one that belongs in that folder."""
        check_version(model, version)
        path = self.root / model / version / MANIFEST
        manifest = _read_object(path, f"{model} {version}: manifest")
        for field, expected in (("model", model), ("version", version)):
            if manifest.get(field) != expected:
                raise RegistryError(f"{model} {version}: manifest {path} has {field}={manifest.get(field)!r}, not "
                                    f"{expected!r} (a version folder copied or moved by hand?)")
        needed = ("sha256", "features") + (("file",) if kind(manifest) == "xgboost" else ("files",))
        for field in needed:
            if field not in manifest:
                raise RegistryError(f"{model} {version}: manifest {path} has no {field!r}")
        if not isinstance(manifest.get("files", {}), dict):
            raise RegistryError(f"{model} {version}: manifest {path} field 'files' is not an object")
        return manifest

    def load(self, model: str, version: str | None = None, expected_features: list[str] | None = None) -> LoadedModel:
        """Load a version (the champion by default) after checking its file hash and, when given, that its
        features are exactly `expected_features` in the same order."""
        version = version or self.champion(model)
        if version is None:
            raise RegistryError(f"{model}: no champion to load and no version named")
        manifest = self.manifest(model, version)
        if kind(manifest) != "xgboost":
            raise RegistryError(f"{model} {version} is a {kind(manifest)} model: use load_files")
        path = self.root / model / version / manifest["file"]
        if not path.exists():
            raise RegistryError(f"{model} {version}: model file {path} is missing")
        blob = path.read_bytes()
        if sha256_bytes(blob) != manifest["sha256"]:
            raise RegistryError(f"{model} {version}: {path} is corrupt: sha256 {sha256_bytes(blob)[:12]}... "
                                f"does not match the manifest's {manifest['sha256'][:12]}...")
        _check_features(model, version, manifest, expected_features)
        booster = xgb.Booster()
        booster.load_model(bytearray(blob))
        return LoadedModel(booster, manifest)

    # ---- champion ---------------------------------------------------------------------------------------

    def pointer(self, model: str) -> dict | None:
        path = self.root / model / CHAMPION
        if not path.exists():
            return None
        pointer = _read_object(path, f"{model}: champion pointer")
        check_version(model, pointer.get("version"), f"champion pointer {path}")
        return pointer

    def champion(self, model: str) -> str | None:
        p = self.pointer(model)
        return p["version"] if p else None

    def promote(self, model: str, version: str, reason: str) -> dict:
        """Make `version` the champion. The pointer keeps the earlier champions, newest last, for rollback."""
        if version not in self.versions(model):
            raise RegistryError(f"{model}: no version {version} to promote (have {self.versions(model)})")
        try:
            old = self.pointer(model)
        except RegistryError:  # a corrupt pointer is replaced, not kept in the history
            old = None
        history = (old.get("history", []) + [{k: old.get(k) for k in ("version", "promoted_at", "reason")}]) if old else []
        pointer = {"version": version, "promoted_at": _now(), "reason": reason, "history": history}
        self._write_pointer(model, pointer)
        return pointer

    def mark_candidate(self, model: str, version: str) -> None:
        """Record the version a training run produced, for the promotion step to judge."""
        if version not in self.versions(model):
            raise RegistryError(f"{model}: no version {version} to mark as candidate")
        _write_json_atomic(self.root / model / CANDIDATE, {"version": version, "marked_at": _now()})

    def candidate(self, model: str) -> str | None:
        path = self.root / model / CANDIDATE
        if not path.exists():
            return None
        version = _read_object(path, f"{model}: candidate").get("version")
        return check_version(model, version, f"candidate {path}")

    def _write_pointer(self, model: str, pointer: dict) -> None:
        _write_json_atomic(self.root / model / CHAMPION, pointer)


    def rollback(self, model: str, to: str | None = None) -> str:
        """Champion back to `to`, or to the champion before the current one; returns the new champion."""
        pointer = self.pointer(model)
        if pointer is None:
            raise RegistryError(f"{model}: no champion to roll back from")
        if to is None:
            earlier = [h["version"] for h in pointer["history"] if h["version"] != pointer["version"]]
            if not earlier:
                raise RegistryError(f"{model}: {pointer['version']} has no earlier champion to roll back to")
            to = earlier[-1]
        self.promote(model, to, reason=f"rollback from {pointer['version']}")
        return to


def check_version(model: str, version, where: str = "version") -> str:
    """`version` when it is a version name the registry writes (VERSION), else a RegistryError."""
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise RegistryError(f"{model}: {where} names version {version!r}, which is not a registry version "
                            f"(pattern {VERSION.pattern})")
    return version


def _read_object(path: Path, what: str) -> dict:
    if not path.exists():
        raise RegistryError(f"{what}: no file at {path}")
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RegistryError(f"{what} {path} is not valid JSON ({err})") from err
    if not isinstance(obj, dict):
        raise RegistryError(f"{what} {path} is not a JSON object (got {type(obj).__name__})")
    return obj


def kind(manifest: dict) -> str:
    """What a version holds: "xgboost" for manifests written before kinds existed."""
    return manifest.get("kind", "xgboost")


def _check_features(model: str, version: str, manifest: dict, expected: list[str] | None) -> None:
    if expected is not None and list(expected) != manifest["features"]:
        missing = sorted(set(expected) - set(manifest["features"]))
        extra = sorted(set(manifest["features"]) - set(expected))
        raise RegistryError(f"{model} {version}: feature list mismatch (missing {missing}, extra {extra}, "
                            "or a different order); refusing to serve it")


def _write_json_atomic(path: Path, obj: dict) -> None:
    """Write a temporary file beside `path`, flush it to disk, then rename it over `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex}")
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)  # atomic on POSIX: readers see the old pointer or the new one
    finally:
        tmp.unlink(missing_ok=True)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _json_default(o):
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):
        return o.item()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def main(argv: list[str] | None = None) -> None:
    from quant.settings import Settings

    p = argparse.ArgumentParser(prog="python -m quant.models.registry", description="List or roll back registry models.")
    p.add_argument("--root", type=Path, default=None, help="registry root (default: $QUANT_DATA_DIR/registry)")
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="versions of every model, the champion marked with *")
    ls.add_argument("--model")
    rb = sub.add_parser("rollback", help="make an earlier version the champion")
    rb.add_argument("model")
    rb.add_argument("--to", help="version to restore (default: the previous champion)")
    args = p.parse_args(argv)
    reg = Registry(args.root or Settings.from_env().data_dir / "registry")
    if args.command == "rollback":
        try:
            print(f"{args.model}: champion is now {reg.rollback(args.model, args.to)}")
        except RegistryError as err:
            raise SystemExit(f"error: {err}") from None
        return
    for model in [args.model] if args.model else reg.models():
        champ = reg.champion(model)
        print(model)
        for v in reg.versions(model):
            m = reg.manifest(model, v)
            metrics = ", ".join(f"{k}={val:.4f}" for k, val in m.get("metrics", {}).items() if isinstance(val, float))
            print(f"  {'*' if v == champ else ' '} {v}  {m['created_at']}  {m['sha256'][:12]}  {metrics}")


if __name__ == "__main__":
    main()
