"""Alerts and their sinks: what an alert says, and where configuration sends it (SNS, a webhook, a file).

Sensors build an ``Alert`` and hand it to the ``alert_sink`` resource; which sink that is comes from
the environment's resource set, so sensor code never branches on the destination.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
import dagster as dg
import requests
from pydantic import Field

CHECK_FAILED = "check_failed"
RUN_FAILED = "run_failed"
AlertKind = Literal["check_failed", "run_failed"]

#: Where the Dagster UI is served when nothing else is configured (``dagster dev``).
DEFAULT_UI_BASE_URL = "http://127.0.0.1:3000"
#: SNS refuses subjects longer than this.
SNS_SUBJECT_MAX = 100
#: Longest summary kept in an alert (run failure messages can carry whole tracebacks).
SUMMARY_MAX = 2_000
PRODUCT = "Forecast 2.0"


class AlertDeliveryError(RuntimeError):
    """A sink could not deliver an alert; the message never contains the sink's secret address."""


def run_url(base_url: str, run_id: str) -> str:
    """The Dagster UI page of a run: ``{base_url}/runs/{run_id}``."""
    return f"{base_url.rstrip('/')}/runs/{run_id}"


@dataclass(frozen=True)
class Alert:
    """Something an operator should look at: a failed asset check or a failed run."""

    kind: AlertKind
    severity: str  # "ERROR" | "WARN"
    summary: str
    run_id: str
    run_url: str
    asset: str | None = None
    check: str | None = None
    job: str | None = None
    #: The partitions the run covered (one key, or every key of a single-run range).
    partitions: list[str] = field(default_factory=list)
    #: The evaluation's small metadata: failure counts per rule, failed partitions, ...
    metadata: dict[str, Any] = field(default_factory=dict)

    def partition_label(self) -> str:
        """``2024-10-02``, ``2024-10-02 … 2024-10-08`` for a range, or ``-`` when unpartitioned."""
        if not self.partitions:
            return "-"
        if len(self.partitions) == 1:
            return self.partitions[0]
        return f"{self.partitions[0]} … {self.partitions[-1]} ({len(self.partitions)} days)"

    def title(self) -> str:
        """One line naming what failed."""
        if self.kind == CHECK_FAILED:
            return f"{self.severity} check failed: {self.asset} / {self.check} [{self.partition_label()}]"
        what = self.job or "run"
        return f"{self.severity} run failed: {what} [{self.partition_label()}]"

    def subject(self) -> str:
        """An e-mail/SNS subject (ASCII, one line, at most 100 characters)."""
        line = f"[{PRODUCT}] {self.title()}".replace("…", "..")
        line = line.encode("ascii", "replace").decode("ascii").replace("\n", " ")
        return line if len(line) <= SNS_SUBJECT_MAX else line[: SNS_SUBJECT_MAX - 3] + "..."

    def text(self) -> str:
        """The alert for humans: what failed, where, why, the key figures and the run's link."""
        lines = [f"[{PRODUCT}] {self.title()}"]
        if self.asset:
            lines.append(f"Asset: {self.asset}")
        if self.check:
            lines.append(f"Check: {self.check} (severity {self.severity})")
        if self.job:
            lines.append(f"Job: {self.job}")
        lines.append(f"Partitions: {self.partition_label()}")
        lines.append(f"Summary: {self.summary}")
        for name, value in self.metadata.items():
            shown = value if isinstance(value, (str, int, float, bool)) else json.dumps(value, default=str)
            lines.append(f"  {name}: {shown}")
        lines.append(f"Run: {self.run_url}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable fields, for structured sinks."""
        return asdict(self)


class AlertPolicy(dg.ConfigurableResource):
    """What to alert on, and where the Dagster UI is (for the run links)."""

    alert_on_error: bool = Field(default=True, description="Alert on failed checks of severity ERROR.")
    alert_on_warn: bool = Field(default=True, description="Alert on failed checks of severity WARN.")
    alert_on_run_failure: bool = Field(default=True, description="Alert on failed runs.")
    ui_base_url: str = Field(default=DEFAULT_UI_BASE_URL, description="Base URL of the Dagster UI.")
    initial_lookback_hours: float = Field(
        default=24.0,
        description="With no cursor yet (first tick), only runs that ended this recently are read, so "
        "turning a sensor on does not replay the instance's whole history.",
    )

    def alerts_on(self, severity: dg.AssetCheckSeverity) -> bool:
        """Whether a failed check of this severity is alerted."""
        return self.alert_on_error if severity == dg.AssetCheckSeverity.ERROR else self.alert_on_warn


class AlertSink(dg.ConfigurableResource):
    """Where alerts go. Subclasses deliver; ``send`` raises ``AlertDeliveryError`` when they can't."""

    def send(self, alert: Alert) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not implement send()")


class LocalAlertSink(AlertSink):
    """Local development: log the alert and append it as one JSON line to a file."""

    path: str = Field(default=".forecast/alerts.jsonl", description="JSON-lines file the alerts are appended to.")

    def send(self, alert: Alert) -> None:
        dg.get_dagster_logger().warning(alert.text())
        target = Path(self.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("a", encoding="utf-8") as out:
            out.write(json.dumps({**alert.as_dict(), "text": alert.text()}, default=str) + "\n")


class SnsAlertSink(AlertSink):
    """Production: publish to an SNS topic (subscribe e-mail, SQS, chat bots... to it)."""

    topic_arn: str = Field(description="ARN of the SNS topic alerts are published to.")
    region_name: str | None = Field(default=None, description="AWS region; boto3's default chain when unset.")
    endpoint_url: str | None = Field(default=None, description="SNS endpoint override (tests, VPC endpoints).")

    def send(self, alert: Alert) -> None:
        client = boto3.client("sns", region_name=self.region_name, endpoint_url=self.endpoint_url)
        attributes = {
            name: {"DataType": "String", "StringValue": value}
            for name, value in (
                ("kind", alert.kind),
                ("severity", alert.severity),
                ("asset", alert.asset),
                ("check", alert.check),
                ("job", alert.job),
            )
            if value
        }
        try:
            client.publish(
                TopicArn=self.topic_arn, Subject=alert.subject(), Message=alert.text(), MessageAttributes=attributes
            )
        except Exception as error:  # botocore raises many unrelated types; all mean "not delivered"
            raise AlertDeliveryError(f"SNS publish failed: {type(error).__name__}: {error}") from error


class WebhookAlertSink(AlertSink):
    """A Slack-compatible incoming webhook: ``{"text": ...}`` plus the alert's fields under ``alert``.

    The URL is a credential (whoever has it can post): it is never logged nor put in an error.
    """

    url: str = Field(description="Incoming-webhook URL; pass it as an EnvVar, it is a secret.")
    timeout_seconds: float = Field(default=10.0, description="Connect and read timeout of the POST.")

    def send(self, alert: Alert) -> None:
        payload = {"text": alert.text(), "alert": alert.as_dict()}
        try:
            response = requests.post(self.url, json=payload, timeout=self.timeout_seconds)
        except requests.RequestException as error:
            # requests' messages embed the URL: report the error type only, and drop the chain.
            raise AlertDeliveryError(f"webhook POST failed: {type(error).__name__}") from None
        if response.status_code >= 300:
            raise AlertDeliveryError(f"webhook POST refused: HTTP {response.status_code}")
        dg.get_dagster_logger().info(f"webhook alert delivered: {alert.title()}")
