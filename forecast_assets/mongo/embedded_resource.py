"""The embedded default for local runs: a SecantusDB server started on demand under the state folder.

Only the ``local`` environment binds this resource. It runs SecantusDB as a separate process (its
``secantusd-py`` command, from the optional ``local`` extra) and never imports it. The server is left
running for the next run (runs may overlap); ``make demo`` stops it at the end, ``make mongo-stop``
stops it after a UI session.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import PrivateAttr

from forecast_assets.mongo.embedded_server import LOG_FILE, running_pid, start_background
from forecast_assets.mongo.resources import MongoResource


class EmbeddedMongoResource(MongoResource):
    """``MongoResource`` whose server, when ``uri`` is empty, is the local embedded one."""

    uri: str = ""
    state_dir: str = ".forecast/mongo"
    _embedded_uri: str | None = PrivateAttr(default=None)

    def connection_uri(self) -> str:
        """``uri`` if set; else the embedded server's, starting it if it is not running."""
        if self.uri:
            return self.uri
        if self._embedded_uri is None:
            self._embedded_uri, _ = start_background(self.state_dir)
        return self._embedded_uri

    def unavailable_advice(self) -> str:
        """With the embedded server: which one, where its state and log are, and what to do."""
        if self.uri:
            return super().unavailable_advice()
        state = Path(self.state_dir)
        pid = running_pid(state)
        status = (
            f"its process {pid} is still running but not answering"
            if pid
            else ("its process is gone: it crashed or was stopped")
        )
        return (
            f"This run uses the embedded SecantusDB server (MONGO_URI is not set) of the state folder "
            f"{state}; {status}. See its log {state / LOG_FILE}. Run `make mongo-stop` (for another "
            f"folder: python -m forecast_assets.mongo.embedded_server stop --state-dir {state}) and rerun: "
            "the next run starts the server again on the same data. To use another MongoDB server, "
            "set MONGO_URI."
        )
