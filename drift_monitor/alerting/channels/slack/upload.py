"""The digest's chart in Slack: drawn as one PNG (drift_monitor.digest.charts) and uploaded with
``files_upload_v2`` as a reply in the thread of the posted digest (Web API only: an incoming
webhook cannot upload files)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient

from drift_monitor.digest import digest_png

FILENAME = "drift-digest.png"


def upload_chart(client: WebClient, payload: dict[str, Any], posted: dict[str, Any]) -> bool:
    """Upload the chart of digest ``payload`` under the message ``posted`` (chat.postMessage's
    answer: ``channel`` and ``ts``). Returns False when there is nothing to draw. Raises
    slack-sdk's SlackApiError or SlackRequestError, or a transport error, as the client does."""
    png = digest_png(payload)
    if png is None:
        return False
    client.files_upload_v2(
        content=png, filename=FILENAME, title=f"Drift digest: last {payload.get('days')} days",
        channel=posted["channel"], thread_ts=posted.get("ts"),
        alt_txt="Drift effect per dimension and target, with the checks that confirmed drift")
    return True
