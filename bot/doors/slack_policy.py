"""Per-channel behaviour and the per-user rate limit of the Slack door.

The channel file (`KB_SLACK_CHANNELS`, TOML) sets, for any channel id, how kb behaves there::

    [default]                 # every channel not listed below (all keys optional)
    mode = "mention"          # answer only when @mentioned (and in its threads)
    private = false           # answers only visible to the asker, with "Share in channel"

    [channels.C0123456789]
    mode = "auto"             # answer any question, but post only cited, non-abstained answers
    react = "mag"             # …otherwise add this reaction (omit it to stay silent)

    [channels.C0987654321]
    mode = "ignore"           # never answer here (`/kb` still answers, privately)

Direct messages and the assistant panel always answer.
"""

from __future__ import annotations

import threading
import time
import tomllib
from collections import deque
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

Mode = Literal["mention", "auto", "ignore"]


class ChannelRule(BaseModel):
    """How kb behaves in one channel."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = "mention"
    private: bool | None = Field(None, description="None: the KB_SLACK_PRIVATE_ANSWERS default")
    react: str | None = Field(None, pattern=r"^[a-z0-9_+\-']{1,100}$")


class ChannelPolicy(BaseModel):
    """The channel file: a default rule and rules by channel id."""

    model_config = ConfigDict(extra="forbid")

    default: ChannelRule = ChannelRule()
    channels: dict[str, ChannelRule] = {}

    def rule(self, channel: str | None) -> ChannelRule:
        """The rule for a channel (the default for unlisted ones)."""
        return self.channels.get(channel or "", self.default)


class ChannelConfigError(ValueError):
    """The channel file cannot be used (says which file and what is wrong)."""


def load_channel_policy(path: Path | None) -> ChannelPolicy:
    """The channel file's rules; no file means every channel is `mention`."""
    if path is None:
        return ChannelPolicy()
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        return ChannelPolicy.model_validate(data)
    except OSError as exc:
        raise ChannelConfigError(f"KB_SLACK_CHANNELS: cannot read {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ChannelConfigError(f"KB_SLACK_CHANNELS: {path} is not valid: {exc}") from exc


class RateLimiter:
    """At most `limit` questions per user in any `window` seconds (0 = no limit).

    Hand-written (a sliding window of timestamps per user) because it is a dozen lines and
    needs no shared state beyond this process; `state` may later move it into the database.
    """

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, user: str | None) -> float:
        """0 if `user` may ask now (and counts it), else the seconds until they may."""
        if self.limit <= 0 or not user:
            return 0.0
        now = time.monotonic()
        with self._lock:
            times = self._seen.setdefault(user, deque())
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                return max(0.1, times[0] + self.window - now)
            times.append(now)
            if len(self._seen) > 10_000:  # forget idle users
                for key in [k for k, v in self._seen.items() if not v]:
                    del self._seen[key]
            return 0.0


def slow_down_text(wait: float) -> str:
    """The polite reply to a user over the rate limit."""
    seconds = max(1, round(wait))
    return (
        f":hourglass: You're asking faster than I can keep up with. "
        f"Please try again in {seconds} second{'s' if seconds != 1 else ''}."
    )
