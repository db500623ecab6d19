"""Start the stand-in services on 127.0.0.1 and describe them as Airflow connections."""
from __future__ import annotations

from contextlib import contextmanager

from cme.standins.cebroker import CeBrokerStandIn
from cme.standins.cpe_monitor import CpeMonitorStandIn
from cme.standins.pars import ParsStandIn

HTTP_SETTINGS = """cebroker_provider_tracking_number = "50-0000"
acpe_provider_number = "0204"
deadline_alert_days = {alert_days}
http_timeout_seconds = {timeout}
[transport]
ACCME_PARS = "http"
CE_BROKER = "http"
CPE_MONITOR = "http"
ACCME_PARS_ACTIVITIES = "http"
"""


@contextmanager
def running(pars_registry: dict, cebroker_registry: dict, cpe_registry: dict, **faults):
    services = {"ACCME_PARS": ParsStandIn(pars_registry, **faults),
                "CE_BROKER": CeBrokerStandIn(cebroker_registry, **faults),
                "CPE_MONITOR": CpeMonitorStandIn(cpe_registry, **faults),
                # the PARS activity web service, under its own connection
                "ACCME_PARS_ACTIVITIES": ParsStandIn(pars_registry, **faults)}
    env = {}
    try:
        for body, service in services.items():
            url = service.start()
            env[f"AIRFLOW_CONN_CME_{body}"] = url.replace("http://", "http://user:secret@")
        yield services, env
    finally:
        for service in services.values():
            service.stop()
