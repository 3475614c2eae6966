"""Signing keys for the execution adapters, loaded only from the environment or a keyfile, never from code.

The wrappers hold the key privately and show only the public address in `repr`/`str`; they refuse to be
pickled (a pickled key ends up in caches and task queues). Load errors name the variable, never its value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import base58
from eth_account import Account
from eth_account.datastructures import SignedMessage, SignedTransaction
from eth_account.messages import SignableMessage
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from quant.chains.errors import ChainError
from quant.settings import ChainSettings

EVM_KEY_ENV, EVM_KEYFILE_ENV, EVM_KEYFILE_PASSWORD_ENV = "EVM_PRIVATE_KEY", "EVM_KEYFILE", "EVM_KEYFILE_PASSWORD"
FLASHBOTS_KEY_ENV = "FLASHBOTS_SIGNER_KEY"
SOLANA_KEYPAIR_PATH_ENV, SOLANA_KEY_ENV = "SOLANA_KEYPAIR_PATH", "SOLANA_PRIVATE_KEY"


class KeyLoadError(ChainError):
    """A key could not be loaded; the message names where it was looked for, not what was found."""


class EvmKey:
    """An eth-account signer that never shows its key."""

    __slots__ = ("_account",)

    def __init__(self, account):
        self._account = account

    @property
    def address(self) -> str:
        return self._account.address

    def sign_transaction(self, tx: dict) -> SignedTransaction:
        return self._account.sign_transaction(tx)

    def sign_message(self, message: SignableMessage) -> SignedMessage:
        return self._account.sign_message(message)

    def __repr__(self) -> str:
        return f"EvmKey({self.address})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("signing keys are not pickled")


class SolanaKey:
    """A solders Keypair that never shows its secret (solders' own `str` is the base58 secret)."""

    __slots__ = ("_keypair",)

    def __init__(self, keypair: Keypair):
        self._keypair = keypair

    @property
    def pubkey(self) -> Pubkey:
        return self._keypair.pubkey()

    def sign(self, message: MessageV0) -> VersionedTransaction:
        """The transaction of `message` signed by this key (the fee payer and only signer)."""
        return VersionedTransaction(message, [self._keypair])

    def __repr__(self) -> str:
        return f"SolanaKey({self.pubkey})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("signing keys are not pickled")


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return ChainSettings.from_env().keys if env is None else env


def load_evm_key(env: Mapping[str, str] | None = None, key_var: str = EVM_KEY_ENV,
                 keyfile_var: str = EVM_KEYFILE_ENV, password_var: str = EVM_KEYFILE_PASSWORD_ENV) -> EvmKey:
    """From $EVM_PRIVATE_KEY (32 bytes hex), else $EVM_KEYFILE (an encrypted JSON keystore, as geth and
    `cast wallet` write them) unlocked with $EVM_KEYFILE_PASSWORD. Pass other variable names for other
    roles (the Flashbots searcher key: `key_var=FLASHBOTS_KEY_ENV`)."""
    e = _env(env)
    if e.get(key_var):
        try:
            return EvmKey(Account.from_key(e[key_var].strip()))
        except Exception:  # noqa: BLE001 - the cause would quote the key: raise without it
            raise KeyLoadError(f"${key_var} is not a 32-byte hex private key") from None
    if e.get(keyfile_var):
        path = Path(e[keyfile_var])
        try:
            keystore = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise KeyLoadError(f"${keyfile_var}: cannot read a JSON keystore at {path}: {type(err).__name__}") from None
        try:
            return EvmKey(Account.from_key(Account.decrypt(keystore, e.get(password_var, ""))))
        except Exception:  # noqa: BLE001 - never chain the decryption error (it may hold key material)
            raise KeyLoadError(f"${keyfile_var}: cannot decrypt {path} with ${password_var}") from None
    raise KeyLoadError(f"no EVM key: set ${key_var} or ${keyfile_var} (+ ${password_var})")


def load_solana_keypair(env: Mapping[str, str] | None = None) -> SolanaKey:
    """From $SOLANA_KEYPAIR_PATH (a solana-cli keypair file: a JSON array of 64 bytes), else
    $SOLANA_PRIVATE_KEY (the 64-byte keypair in base58, as wallets export it)."""
    e = _env(env)
    if e.get(SOLANA_KEYPAIR_PATH_ENV):
        path = Path(e[SOLANA_KEYPAIR_PATH_ENV]).expanduser()
        try:
            raw = bytes(json.loads(path.read_text()))
            return SolanaKey(Keypair.from_bytes(raw))
        except Exception:  # noqa: BLE001 - never chain: the cause may quote the bytes
            raise KeyLoadError(f"${SOLANA_KEYPAIR_PATH_ENV}: {path} is not a 64-byte solana-cli keypair file") from None
    if e.get(SOLANA_KEY_ENV):
        try:
            return SolanaKey(Keypair.from_bytes(base58.b58decode(e[SOLANA_KEY_ENV].strip())))
        except Exception:  # noqa: BLE001
            raise KeyLoadError(f"${SOLANA_KEY_ENV} is not a base58 64-byte keypair") from None
    raise KeyLoadError(f"no Solana key: set ${SOLANA_KEYPAIR_PATH_ENV} or ${SOLANA_KEY_ENV}")
