"""The environment switch: the simulated market by default, a real chain by configuration alone."""

from __future__ import annotations

import pytest

from orchestration.environment import Environment, chain_source_for, get_environment, resources_for
from quant.settings import Settings


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
