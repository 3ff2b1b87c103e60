"""Host names, as Nova accepts them for a compute host: hostname or FQDN syntax.

A name is 1 to 255 ASCII letters, digits, ``-``, ``_`` and ``.``, in dot-separated labels
of 1 to 63 characters, none starting with ``-`` (it would read as a command-line option).
``compute-0.rack3.example.org`` is a host name; ``*`` (every host, in ``HOST:POINT``),
``a..b``, ``.a`` and ``host:1`` are not. Also the ZeroMQ routing identities derived from a
name, which must fit in 255 bytes.
"""

from __future__ import annotations

import re

from testbed.errors import ConfigError

MAX_LENGTH = 255
_LABEL = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$")


def problem(name: object) -> str | None:
    """Why ``name`` is not a host name, or None when it is one."""
    if not isinstance(name, str) or not name:
        return "must be a non-empty string"
    if len(name) > MAX_LENGTH:
        return f"is {len(name)} characters long (at most {MAX_LENGTH})"
    for label in name.split("."):
        if not label:
            return "has an empty label (a leading, trailing or doubled '.')"
        if not _LABEL.match(label):
            return (
                "must be letters, digits, '-', '_' and '.' (labels of at most 63, "
                "not starting with '-')"
            )
    return None


def check_host(name: object, where: str = "host name") -> str:
    """``name`` if it is a host name; else ConfigError naming it and ``where`` it came from."""
    why = problem(name)
    if why is not None:
        shown = repr(name) if len(str(name)) <= 60 else repr(f"{str(name)[:40]}...")
        raise ConfigError(f"{where}: host name {shown} {why}")
    return name  # type: ignore[return-value]


def peer_tag(host: str) -> str:
    """A short stand-in for ``host`` inside a routing identity that carries more than the
    name (a host's conductor sockets, ``testbed.events.peer_identity``): the name itself, or a
    digest of it when
    the name is too long to leave room for the rest within ZeroMQ's 255 bytes."""
    if len(host) <= 200:
        return host
    import hashlib  # here: loading it costs every start-up, and few names are this long

    return "~" + hashlib.sha256(host.encode()).hexdigest()[:40]
