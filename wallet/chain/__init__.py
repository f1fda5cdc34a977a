"""Chain backends: what the wallet needs from a blockchain, behind one interface.

A backend makes deposit addresses, sends with an idempotency key, and reports transactions
(found or not, confirmations) and the transfers arriving on its chain. `backend_for(network)`
picks the one named by `Network.backend`. The only backend today is the simulated chain
(wallet.chain.simulated): rows in PostgreSQL, labelled "simulated" wherever it shows.

How to add a real one: implement `ChainBackend` (raise ChainRetryableError for anything that
may succeed later: node down, timeout, fee spike; ChainFinalError when the chain refuses the
transfer for good), make `send` return the same txid for a repeated idempotency key (most
node wallets and custody APIs take a client request id; otherwise record the key before the
broadcast), add a `Network.Backend` choice and register it in BACKENDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from wallet.models import Network


class ChainError(Exception):
    """A backend failure."""


class ChainRetryableError(ChainError):
    """The send may succeed if tried again later (node unreachable, timeout, busy)."""


class ChainFinalError(ChainError):
    """The chain refused the transfer; retrying cannot help (invalid address, rejected)."""


@dataclass(frozen=True, slots=True)
class TxStatus:
    found: bool  # False: unknown or gone from the chain (reorged out)
    confirmations: int = 0


@dataclass(frozen=True, slots=True)
class Transfer:
    """An output paying an address on the chain (what the deposit watcher looks at)."""

    txid: str
    vout: int
    address: str
    tag: str
    amount: Decimal
    confirmations: int


class ChainBackend(Protocol):
    name: str
    simulated: bool

    def address_new(self, *, network: Network) -> tuple[str, str]:
        """A fresh deposit address and tag (tag "" when the chain has none)."""
        ...

    def address_valid(self, *, network: Network, address: str, tag: str) -> bool: ...

    def send(
        self, *, network: Network, address: str, tag: str, amount: Decimal, idempotency_key: str
    ) -> str:
        """Send `amount` and return the txid. A repeated key returns the first send's txid
        and sends nothing. Must be called outside any database transaction of ours."""
        ...

    def send_lookup(self, *, network: Network, idempotency_key: str) -> str | None:
        """The txid sent under this key, or None when nothing was sent with it."""
        ...

    def tx_status(self, *, network: Network, txid: str) -> TxStatus: ...

    def transfers(self, *, network: Network, after: int, limit: int) -> tuple[list[Transfer], int]:
        """Transfers of the network's asset seen after cursor `after`, and the new cursor."""
        ...


def backend_for(network: Network) -> ChainBackend:
    from .simulated import SimulatedChain

    backends: dict[str, ChainBackend] = {"simulated": SimulatedChain()}
    try:
        return backends[network.backend]
    except KeyError:
        raise ChainFinalError(f"no chain backend named {network.backend!r}") from None
