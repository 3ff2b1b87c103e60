"""The join document: what a host started by the user (``testbed host NAME --join-file FILE``)
needs to join a running cluster: the orchestrator's endpoints, its configuration and, with
CURVE, the server's public key and the client key pair issued for joining hosts.

``testbed up`` writes it as a file of mode 0600 (it holds a secret key). Which names may join
is the configuration's ``cluster.joined``: a joining host is declared like every other host,
so scenarios, checks and invariants know it before it appears.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from testbed.config import Config, apply_layer
from testbed.errors import ConfigError
from testbed.launch import HostSpec
from testbed.names import check_host
from testbed.secure import Curve
from testbed.validate import validate

VERSION = 1


def document(
    config: Config, conductor: str, commands: str, control: str, pid: int, curve: Curve | None
) -> dict[str, Any]:
    cfg = config.to_dict()
    cfg.pop("origins", None)
    return {
        "version": VERSION,
        "orchestrator_pid": pid,
        "conductor": conductor,
        "commands": commands,
        "control": control,
        "config": cfg,
        "curve": curve.to_dict() if curve else None,
    }


def write(path: str | Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` readable by its owner only (created 0600, never widened by a umask)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
    return path


def read(path: str | Path) -> dict[str, Any]:
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read join file '{path}': {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"join file '{path}' is not JSON") from None
    return check(doc, f"join file '{path}'")


def check(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or doc.get("version") != VERSION:
        raise ConfigError(f"{where} is not a testbed join document (version {VERSION})")
    for key in ("conductor", "commands"):
        if not isinstance(doc.get(key), str):
            raise ConfigError(f"{where}: '{key}' must be an endpoint")
    if not isinstance(doc.get("config"), dict):
        raise ConfigError(f"{where}: 'config' must be a table")
    curve = doc.get("curve")
    keys = ("server", "public", "secret")
    if curve is not None and not (
        isinstance(curve, dict) and all(isinstance(curve.get(k), str) for k in keys)
    ):
        raise ConfigError(f"{where}: 'curve' must hold server, public and secret keys")
    return doc


def curve_of(doc: dict[str, Any]) -> Curve | None:
    c = doc.get("curve")
    return Curve(c["server"], c["public"], c["secret"]) if c else None


def host_spec(doc: dict[str, Any], name: str, run_dir: str, log_level: int, where: str) -> HostSpec:
    """The spec of joining host ``name``; it must be one of the cluster's ``cluster.joined``."""
    check_host(name, "testbed host")
    config = Config()
    apply_layer(config, doc["config"], where)
    validate(config)
    joined = config.cluster.joined
    if name not in joined:
        raise ConfigError(
            f"host '{name}' may not join this cluster (cluster.joined: "
            f"{', '.join(joined) or 'none'})"
        )
    return HostSpec(
        name,
        config,
        doc["conductor"],
        doc["commands"],
        0,  # no parent to watch: heartbeats tell whether the orchestrator is there
        log_level,
        run_dir,
        curve=curve_of(doc),
    )
