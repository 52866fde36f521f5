"""clock_text of forecast_assets/raw/wunderground.py at 5aaf639 (the WU Time cell as HH:MM:SS)."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any

_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?\s*$")


def clock_text(value: Any) -> str | None:
    """A WU ``Time`` cell as a 24-hour ``HH:MM:SS`` string, or None if it is not a time of day.

    Accepts what the sources hold: an Excel time (``datetime.time``, or a datetime / day fraction
    when a cell lost its format) and the Airbyte export's ``HH:MM:SS`` / ``h:mm AM`` text.
    """
    if isinstance(value, datetime):
        value = value.time()
    if isinstance(value, time):
        return value.replace(microsecond=0).strftime("%H:%M:%S")
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1:
        seconds = round(value * 86400)
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    if isinstance(value, str):
        match = _CLOCK.match(value)
        if match:
            hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
            if match[4]:
                if not 1 <= hour <= 12:
                    return None
                hour = hour % 12 + (12 if match[4].lower() == "pm" else 0)
            if hour < 24 and minute < 60 and second < 60:
                return f"{hour:02d}:{minute:02d}:{second:02d}"
    return None
