"""👍 / 👎 in Slack: Slack's feedback buttons (or the classic ones), and for 👎 a short
"what was wrong?" modal whose reason and comment are stored with the vote."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.doors.feedback import REASONS, FeedbackStore, Vote
from bot.doors.slack_blocks import FEEDBACK_UP
from bot.doors.slack_thread import plain_text

log = logging.getLogger(__name__)

REASON_VIEW = "kb_feedback_reason"  # callback_id of the modal
REASON_LABELS = {
    "wrong": "Wrong: the answer is incorrect",
    "incomplete": "Incomplete: something important is missing",
    "outdated": "Outdated: the source is out of date",
    "off-topic": "Off-topic: it answers another question",
}
THANKS = {
    "up": "Thanks for the 👍, glad it helped!",
    "down": "Thanks for the 👎. The answer has been logged so the knowledge base can be improved.",
}
COMMENT_CHARS = 1000


def parse_vote(action: dict[str, Any]) -> tuple[Vote, str]:
    """(vote, answer id) from a click on either kind of feedback button."""
    value = str(action.get("value", ""))
    if action.get("type") == "feedback_buttons" or value.startswith(("up:", "down:")):
        kind, _, answer_id = value.partition(":")
        return ("up" if kind == "up" else "down"), answer_id
    return ("up" if action.get("action_id") == FEEDBACK_UP else "down"), value


def reason_modal(answer_id: str, channel: str | None, thread_ts: str | None) -> dict[str, Any]:
    """The "what was wrong?" modal: one choice and an optional comment."""
    meta = json.dumps({"answer_id": answer_id, "channel": channel, "thread_ts": thread_ts})
    options = [
        {"text": {"type": "plain_text", "text": REASON_LABELS[r]}, "value": r} for r in REASONS
    ]
    return {
        "type": "modal",
        "callback_id": REASON_VIEW,
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": "What was wrong?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "The answer was…"},
                "element": {"type": "radio_buttons", "action_id": "reason", "options": options},
            },
            {
                "type": "input",
                "block_id": "comment",
                "optional": True,
                "label": {"type": "plain_text", "text": "Anything else? (optional)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "comment",
                    "multiline": True,
                    "max_length": COMMENT_CHARS,
                },
            },
        ],
    }


def parse_reason(view: dict[str, Any]) -> tuple[str | None, str | None]:
    """(reason, comment) from a submitted modal; unknown or empty values become None."""
    values = (view.get("state") or {}).get("values") or {}
    picked = ((values.get("reason") or {}).get("reason") or {}).get("selected_option") or {}
    reason = picked.get("value") if picked.get("value") in REASONS else None
    comment = ((values.get("comment") or {}).get("comment") or {}).get("value") or ""
    return reason, comment.strip()[:COMMENT_CHARS] or None


class FeedbackListeners:
    """The listeners of the feedback buttons and of the 👎 modal."""

    def __init__(self, store: FeedbackStore) -> None:
        self.store = store

    def on_feedback(
        self,
        body: dict[str, Any],
        action: dict[str, Any],
        client: WebClient,
        respond: Callable[..., Any] | None,
    ) -> None:
        """Record the vote with its question and answer; 👎 then asks what was wrong."""
        vote, answer_id = parse_vote(action)
        user = (body.get("user") or {}).get("id", "")
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        message = body.get("message") or {}
        thread_ts = container.get("thread_ts") or message.get("thread_ts")
        try:
            self.store.record(
                answer_id,
                user,
                vote,
                channel=channel,
                thread_ts=thread_ts,
                fallback_answer=plain_text(message.get("text", "")),
            )
        except Exception:
            log.exception("could not record %s feedback from %s", vote, user)
            return
        log.info("feedback %s on answer %s from %s", vote, answer_id, user)
        if vote == "down" and body.get("trigger_id"):
            try:
                client.views_open(
                    trigger_id=body["trigger_id"], view=reason_modal(answer_id, channel, thread_ts)
                )
                return  # thanked when the modal is sent
            except SlackApiError as exc:
                log.info("views.open failed (%s); the 👎 stays without a reason", exc)
        self.thank(client, respond, vote, channel, user, thread_ts)

    def on_reason(self, ack: Callable[..., Any], body: dict[str, Any], client: WebClient) -> None:
        """The 👎 modal was sent: store its reason and comment with the vote."""
        ack()
        view = body.get("view") or {}
        user = (body.get("user") or {}).get("id", "")
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
            reason, comment = parse_reason(view)
            self.store.record(
                str(meta["answer_id"]),
                user,
                "down",
                channel=meta.get("channel"),
                thread_ts=meta.get("thread_ts"),
                reason=reason,
                comment=comment,
            )
        except Exception:
            log.exception("could not store the 👎 reason from %s", user)
            return
        log.info("feedback reason %s on answer %s from %s", reason, meta["answer_id"], user)
        self.thank(client, None, "down", meta.get("channel"), user, meta.get("thread_ts"))

    @staticmethod
    def thank(
        client: WebClient,
        respond: Callable[..., Any] | None,
        vote: Vote,
        channel: str | None,
        user: str,
        thread_ts: str | None,
    ) -> None:
        """An ephemeral thank-you (through response_url where the bot cannot post)."""
        try:
            client.chat_postEphemeral(
                channel=channel or "", user=user, thread_ts=thread_ts, text=THANKS[vote]
            )
        except SlackApiError as exc:
            # e.g. a slash-command answer in a channel the bot is not a member of
            log.info("chat.postEphemeral failed (%s); thanking through response_url", exc)
            if respond is not None:
                respond(response_type="ephemeral", replace_original=False, text=THANKS[vote])
