"""A Mollie simulator: a small Flask app that speaks Mollie's v2 payments API, for machines that cannot reach Mollie.

``create_simulator(state_path)`` builds it; ``flask mollie-simulator`` serves it; ``MOLLIE_API_ENDPOINT`` points the
official client at it. See ``app.py`` for the endpoints.
"""

from portal.mollie_sim.app import create_simulator

__all__ = ["create_simulator"]
