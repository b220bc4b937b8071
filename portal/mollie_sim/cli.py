"""``flask mollie-simulator``: serve the Mollie simulator beside the portal."""

import importlib.util
from pathlib import Path

import click
from flask import Flask

from portal.config import INSTANCE_DIR, ConfigError
from portal.mollie_sim.app import create_simulator


@click.command("mollie-simulator")
@click.option("--port", type=click.IntRange(1, 65535), default=5055, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file with the simulator's state  [default: <instance dir>/mollie-sim.json]",
)
def mollie_simulator(port: int, host: str, state_path: Path | None):
    """Serve a Mollie simulator: the v2 payments API, a checkout page, /_sim/ control endpoints for tests.
    Point the portal at it with MOLLIE_API_ENDPOINT=http://HOST:PORT."""
    state_path = state_path or INSTANCE_DIR / "mollie-sim.json"
    try:
        simulator = create_simulator(state_path)
    except ConfigError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Mollie simulator on http://{host}:{port} (state in {state_path})")
    click.echo(f"  MOLLIE_API_ENDPOINT=http://{host}:{port}")
    serve(simulator, host, port)


def serve(app: Flask, host: str, port: int) -> None:
    # Threaded either way: a webhook handler may call back into the simulator while it waits for that handler.
    if importlib.util.find_spec("waitress"):
        from waitress import serve as waitress_serve

        waitress_serve(app, host=host, port=port, threads=8)
    else:
        from werkzeug.serving import run_simple

        run_simple(host, port, app, threaded=True)
