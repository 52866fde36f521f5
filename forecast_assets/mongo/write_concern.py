"""The write concern of every MongoDB write: parsed from a short text such as ``w=majority,j=true``.

Production default :data:`DEFAULT_WRITE_CONCERN`: a loaded day is acknowledged only once it is in
the on-disk journal of a majority of the data-bearing members (on the documented single ``mongod``
on EFS: in its journal; on a replica set: also on a majority, so it survives a failover), and a
write not acknowledged so within ``wtimeout`` ms fails the load instead of hanging. Loads are
idempotent, so rerunning a day that failed this way is safe.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from pymongo import WriteConcern

#: Journaled, majority-acknowledged, at most 60 s waiting for the acknowledgement.
DEFAULT_WRITE_CONCERN = "w=majority,j=true,wtimeout=60000"
#: The environment variable the resource sets read it from.
SETTING = "MONGO_WRITE_CONCERN"

_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
#: URI options that also set a write concern (case-insensitive, as the driver reads them).
URI_WRITE_CONCERN_OPTIONS = ("w", "journal", "wtimeoutms")


class WriteConcernSettingError(ValueError):
    """The write-concern text cannot be parsed, or contradicts the URI's own options."""


def _fail(text: str, why: str) -> WriteConcernSettingError:
    return WriteConcernSettingError(
        f"{SETTING}={text!r} is not a valid write concern: {why}. Write comma-separated key=value "
        f"pairs from w (a number or a tag such as majority), j (true/false) and wtimeout "
        f"(milliseconds), e.g. {DEFAULT_WRITE_CONCERN!r}."
    )


def parse_write_concern(text: str) -> WriteConcern:
    """``WriteConcern`` of a text like ``w=majority,j=true,wtimeout=60000`` (``majority`` alone = ``w=majority``).

    WriteConcernSettingError naming the text and the accepted keys when it cannot be parsed.
    """
    options: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep:  # a bare value is w
            key, value = "w", key
        key = key.lower()
        if key in options or (key == "journal" and "j" in options):
            raise _fail(text, f"{key} given twice")
        if key == "w":
            options["w"] = int(value) if re.fullmatch(r"\d+", value) else value
            if not value:
                raise _fail(text, "w is empty")
        elif key in ("j", "journal"):
            if value.lower() not in _TRUE + _FALSE:
                raise _fail(text, f"j must be true or false, not {value!r}")
            options["j"] = value.lower() in _TRUE
        elif key in ("wtimeout", "wtimeoutms"):
            if not re.fullmatch(r"\d+", value):
                raise _fail(text, f"wtimeout must be a whole number of milliseconds, not {value!r}")
            options["wtimeout"] = int(value)
        else:
            raise _fail(text, f"unknown key {key!r}")
    if not options:
        raise _fail(text, "it is empty")
    try:
        concern = WriteConcern(**options)
    except (TypeError, ValueError) as exc:
        raise _fail(text, str(exc)) from None
    if not concern.acknowledged:
        raise _fail(text, "w=0 (unacknowledged) would lose write errors; a load must know what was written")
    return concern


def uri_write_concern_options(uri: str) -> dict[str, str]:
    """The write-concern options a MongoDB URI carries itself (``w``, ``journal``, ``wTimeoutMS``)."""
    _, _, query = (uri or "").partition("?")
    return {k: v for k, v in parse_qsl(query) if k.lower() in URI_WRITE_CONCERN_OPTIONS}
