"""Which key a client command signs with: a dev secret URI (`--uri //Alice`) or a bittensor wallet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from bittensor_wallet import Keypair, Wallet

from proctor.cli.common import err_console

UriOption = Annotated[
    str | None,
    typer.Option("--uri", help="Sign with a key from a secret URI, e.g. //Alice (development keys)."),
]
WalletNameOption = Annotated[
    str | None, typer.Option("--wallet-name", help="Bittensor wallet (coldkey) name; its hotkey signs.")
]
WalletHotkeyOption = Annotated[str, typer.Option("--wallet-hotkey", help="Hotkey name inside the wallet.")]
WalletPathOption = Annotated[Path, typer.Option("--wallet-path", help="Folder holding bittensor wallets.")]
UrlOption = Annotated[str, typer.Option("--url", help="proctor server base URL.")]

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_WALLET_PATH = Path("~/.bittensor/wallets")


class KeyProblem(ValueError):
    """The key options do not name a usable key."""


def load_signer(
    *,
    uri: str | None,
    wallet_name: str | None,
    wallet_hotkey: str = "default",
    wallet_path: Path | None = None,
) -> Keypair:
    """A keypair from `uri`, or the hotkey of wallet `wallet_name` (exactly one of the two)."""
    if uri and wallet_name:
        raise KeyProblem("give either --uri or --wallet-name, not both")
    if uri:
        try:
            return Keypair.create_from_uri(uri)
        except Exception as exc:  # the wallet library raises its own error types
            raise KeyProblem(f"--uri {uri!r} is not a valid secret URI: {exc}") from exc
    if wallet_name:
        path = (wallet_path or DEFAULT_WALLET_PATH).expanduser()
        try:
            wallet = Wallet(name=wallet_name, hotkey=wallet_hotkey, path=str(path))
            keypair = wallet.hotkey
        except Exception as exc:
            where = path / wallet_name / "hotkeys" / wallet_hotkey
            raise KeyProblem(f"cannot load hotkey {where}: {exc}") from exc
        return keypair
    raise KeyProblem(
        "no key: give --uri //Alice (development) or --wallet-name NAME [--wallet-hotkey HOTKEY]"
    )


def signer_or_exit(
    *, uri: str | None, wallet_name: str | None, wallet_hotkey: str, wallet_path: Path | None
) -> Keypair:
    """`load_signer` for a CLI command: a clear message and exit code 2 when the key is unusable."""
    try:
        return load_signer(
            uri=uri, wallet_name=wallet_name, wallet_hotkey=wallet_hotkey, wallet_path=wallet_path
        )
    except KeyProblem as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
