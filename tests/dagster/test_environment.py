"""The environment switch: the simulated market by default, a real chain by configuration alone."""

from __future__ import annotations

import re

import pytest

from orchestration.environment import Environment, chain_source_for, get_environment, resources_for
from quant.settings import ChainSettings, LiveSettings, ServiceSettings, Settings


def test_default_is_the_simulated_market(monkeypatch, tmp_path):
    for var in ("QUANT_SOURCE", "QUANT_ENV", "QUANT_WORLD"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    assert get_environment() is Environment.LOCAL
    resources = resources_for(Environment.LOCAL, Settings.from_env())
    assert resources["chain_source"].kind == "simulated"
    assert resources["warehouse"].database == str(tmp_path / "warehouse.duckdb")


def test_evm_source_reads_its_endpoint_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QUANT_SOURCE", "evm")
    monkeypatch.setenv("EVM_FACTORY", "0x5C69bEe701ef814a2B6a3EDD4B1652CB9cc5aA6f")
    monkeypatch.setenv("EVM_QUOTE_TOKENS", '{"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2": "ETH"}')
    source = chain_source_for(Settings.from_env())
    assert source.kind == "evm" and source.quote_tokens == {"0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2": "ETH"}
    # the URL stays an environment reference in the definition: never a literal in code or config
    assert type(source.rpc_url).__name__ == "EnvVar" and source.rpc_url.env_var_name == "EVM_RPC_URL"


@pytest.mark.parametrize(("var", "value"), [("QUANT_SOURCE", "bitcoin"), ("QUANT_WORLD", "huge"), ("QUANT_ENV", "MOON")])
def test_bad_settings_name_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=var):
        resources_for(get_environment(), Settings.from_env())


@pytest.mark.parametrize(("var", "value"), [("CHROMA_PORT", "eighty"), ("QUANT_SEED", "x"), ("EVM_FIRST_BLOCK", "1e3"),
                                            ("EVM_QUOTE_TOKENS", "{"), ("EVM_MAX_FEE_GWEI", "cheap")])
def test_bad_values_name_the_variable_and_the_value(var, value):
    parse = {"CHROMA_PORT": ServiceSettings.from_env, "QUANT_SEED": Settings.from_env}.get(var, ChainSettings.from_env)
    with pytest.raises(ValueError, match=f"{var}.*{re.escape(repr(value))}"):
        parse({var: value})


def test_secrets_stay_out_of_every_repr():
    chain = ChainSettings.from_env({"EVM_RPC_URL": "https://node/k3y", "SOLANA_WS_URL": "wss://node/k3y",
                                    "EVM_PRIVATE_KEY": "0xs3cret", "ZEROX_API_KEY": "zk3y", "EVM_ROUTER": "0xr"})
    assert chain.evm_rpc_url == "https://node/k3y" and chain.keys == {"EVM_PRIVATE_KEY": "0xs3cret"}
    shown = repr(chain) + repr(LiveSettings.from_env({"LIVE_API_TOKEN": "t0ken"}))
    assert not any(s in shown for s in ("k3y", "s3cret", "t0ken")) and "0xr" in shown


def test_a_local_chroma_server_is_an_environment_reference_as_in_prod(tmp_path):
    settings = Settings.from_env({"QUANT_DATA_DIR": str(tmp_path)})
    served = resources_for(Environment.LOCAL, settings, ServiceSettings.from_env({"CHROMA_HOST": "chroma"}))
    assert served["vector_store"].host.env_var_name == "CHROMA_HOST" and served["vector_store"].port == 8000
    local = resources_for(Environment.LOCAL, settings, ServiceSettings.from_env({}))["vector_store"]
    assert (local.host, local.port, local.path) == (None, 8000, str(tmp_path / "chroma"))
