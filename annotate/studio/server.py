"""Start, stop and report on the local Label Studio process (SQLite in a data dir)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import requests

from annotate.errors import StudioError
from annotate.schema import PACKAGE_ROOT
from annotate.studio import process
from annotate.studio.api import CREDENTIALS, Api, data_dir_path, read_json, remote
from annotate.studio.project import DEFAULT_TITLE, sync_project

STATE = "server.json"
LOG = "server.log"
DEFAULT_USERNAME = "admin@annotate.local"
START_TIMEOUT = float(os.environ.get("ANNOTATE_STUDIO_START_TIMEOUT", "300"))
# Label Studio refuses ML backends and webhooks on private and loopback addresses (SSRF
# protection). `annotate serve` listens on 127.0.0.1 beside the local server, so that server
# gets Label Studio's own list of banned networks minus loopback: every other private,
# link-local or reserved network stays refused.
SSRF_BANNED_BUT_LOOPBACK = (
    "0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,169.254.0.0/16,172.16.0.0/12,192.0.0.0/24,"
    "192.0.2.0/24,192.88.99.0/24,192.168.0.0/16,198.18.0.0/15,198.51.100.0/24,203.0.113.0/24,"
    "224.0.0.0/4,233.252.0.0/24,240.0.0.0/4,255.255.255.255/32,::/128,::ffff:0:0/96,"
    "::ffff:0:0:0/96,64:ff9b::/96,64:ff9b:1::/48,100::/64,2001:0000::/32,2001:20::/28,"
    "2001:db8::/32,2002::/16,fc00::/7,fe80::/10,ff00::/8"
)


# ---- where things are ------------------------------------------------------------------


def label_studio_bin() -> str:
    """The `label-studio` executable to run."""
    env = os.environ.get("LABEL_STUDIO_BIN")
    if env:
        if not (Path(env).is_file() and os.access(env, os.X_OK)):
            raise StudioError(f"LABEL_STUDIO_BIN={env} is not an executable file")
        return env
    for root in (Path.cwd(), PACKAGE_ROOT):
        candidate = root / ".venv-studio" / "bin" / "label-studio"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("label-studio")
    if found:
        return found
    raise StudioError(
        "no label-studio executable: run `make install`, or set LABEL_STUDIO_BIN, "
        "or put label-studio on PATH"
    )


def find_label_studio_bin() -> str | None:
    """Like `label_studio_bin()` but None instead of an error."""
    try:
        return label_studio_bin()
    except StudioError:
        return None


def _write_private(path: Path, data: dict) -> None:
    """Write JSON readable by the owner only (created 0600, never world-readable)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def credentials(data_dir: str | Path) -> dict[str, str]:
    """The local login, created on first use: url, username, password, api_key."""
    data_dir = Path(data_dir)
    path = data_dir / CREDENTIALS
    creds = read_json(path)
    if creds and all(creds.get(k) for k in ("username", "password", "api_key")):
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return creds
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    creds = {
        "url": "",
        "username": DEFAULT_USERNAME,
        "password": secrets.token_urlsafe(18),
        "api_key": secrets.token_hex(20),
    }
    _write_private(path, creds)
    return creds


def mask(secret: str) -> str:
    """Show only the first and last characters of a secret."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "*" * len(secret)
    return f"{secret[:4]}…{secret[-4:]}"


# ---- HTTP --------------------------------------------------------------------------------


def health(url: str, timeout: float = 3.0) -> bool:
    """Does a Label Studio answer at `url`?"""
    try:
        r = requests.get(f"{url}/health", timeout=timeout)
    except requests.RequestException:
        return False
    return r.status_code == 200


# ---- process -----------------------------------------------------------------------------


LABEL_STUDIO_MARKERS = (("label-studio",), ("label_studio",))


def _is_ours(state: dict) -> bool:
    """The recorded PID is still the Label Studio we started (not a recycled PID)."""
    return process.is_recorded(state, LABEL_STUDIO_MARKERS)


def _child_env(creds: dict[str, str], data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        {
            "LABEL_STUDIO_USERNAME": creds["username"],
            "LABEL_STUDIO_PASSWORD": creds["password"],
            "LABEL_STUDIO_USER_TOKEN": creds["api_key"],
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
            "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "false",
            "DJANGO_DB": "sqlite",
            "COLLECT_ANALYTICS": "false",
            "LABEL_STUDIO_COLLECT_ANALYTICS": "false",
            "PYTHONUNBUFFERED": "1",
            "USE_DEFAULT_BANNED_SUBNETS": "false",
            "USER_ADDITIONAL_BANNED_SUBNETS": SSRF_BANNED_BUT_LOOPBACK,
        }
    )
    return env


def _log_tail(data_dir: Path, lines: int = 15) -> str:
    try:
        text = (data_dir / LOG).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def start(
    host: str = "127.0.0.1",
    port: int = 8080,
    data_dir: str | Path | None = None,
    project: str = DEFAULT_TITLE,
    *,
    timeout: float | None = None,
    overlap: int | None = None,
) -> dict[str, Any]:
    """Start the server (no-op if it runs), wait until it answers, sync the project.

    `overlap`: annotations wanted per task (the project's `maximum_annotations`; Label
    Studio's default 1 offers a task to nobody else once one annotator submitted it).
    None leaves an existing project's setting as it is (a new one gets 1).

    `start()` runs the real `label-studio` executable (`$LABEL_STUDIO_BIN`, else
    `.venv-studio/bin/label-studio` beside the package, else on PATH), bound to 127.0.0.1 by
    default, with sign-up closed. The admin login (generated password and API token) is kept in
    `<data-dir>/credentials.json` (mode 0600) and never printed in full. The server's PID and
    process group are kept in `<data-dir>/server.json`; `stop()` ends exactly that process.

    With `LABEL_STUDIO_URL` and `LABEL_STUDIO_API_KEY` set, no local server is run: every
    command uses that (team) server instead, and `start()` only syncs the project
    (`annotate.studio.project`, which `start()` also calls for the local server).
    """
    if overlap is not None and overlap < 1:
        raise StudioError("--overlap must be at least 1")
    team = remote()
    if team:
        url, key = team
        if not health(url, timeout=10):
            raise StudioError(f"no Label Studio answers at LABEL_STUDIO_URL={url}")
        proj = sync_project(Api(url, key), project, overlap=overlap)
        return {"remote": True, "running": True, "url": url, "api_key": key, "project": proj}

    data_dir = data_dir_path(data_dir).resolve()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)  # the database holds password hashes and API tokens
    creds = credentials(data_dir)
    state = read_json(data_dir / STATE)
    if state and _is_ours(state):  # ours and alive: maybe still starting, wait for it
        url = state["url"]
        _wait_until_answering(url, int(state["pid"]), data_dir, timeout or START_TIMEOUT)
        started = False
    else:
        if state:  # stale: the process is gone
            (data_dir / STATE).unlink(missing_ok=True)
        url = _launch(host, port, data_dir, creds, timeout or START_TIMEOUT)
        started = True
    if creds.get("url") != url:
        creds["url"] = url
        _write_private(data_dir / CREDENTIALS, creds)
    proj = sync_project(Api(url, creds["api_key"]), project, overlap=overlap)
    info = status(data_dir)
    info.update(project=proj, started=started)
    return info


def _launch(host: str, port: int, data_dir: Path, creds: dict, timeout: float) -> str:
    exe = label_studio_bin()
    url_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    url = f"http://{url_host}:{port}"
    if health(url, timeout=2):
        raise StudioError(
            f"something already answers at {url} that this data dir did not start; "
            "choose another --port, or set LABEL_STUDIO_URL/LABEL_STUDIO_API_KEY to use it"
        )
    cmd = [
        exe,
        "start",
        "--no-browser",
        "--data-dir",
        str(data_dir),
        "--database",
        str(data_dir / "label_studio.sqlite3"),
        "--internal-host",
        host,
        "--port",
        str(port),
        "--enable-legacy-api-token",
        "--log-level",
        "WARNING",
    ]
    log = open(data_dir / LOG, "ab")
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=data_dir,
            env=_child_env(creds, data_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends exactly it
        )
    finally:
        log.close()
    state = {
        "pid": proc.pid,
        "pgid": os.getpgid(proc.pid),
        "host": host,
        "port": port,
        "url": url,
        "executable": exe,
        "started_at": time.time(),
    }
    _write_private(data_dir / STATE, state)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            (data_dir / STATE).unlink(missing_ok=True)
            raise StudioError(
                f"label-studio exited with status {proc.returncode} while starting; "
                f"see {data_dir / LOG}:\n{_log_tail(data_dir)}"
            )
        if health(url, timeout=2):
            return url
        time.sleep(1.0)
    _terminate(state)
    (data_dir / STATE).unlink(missing_ok=True)
    raise StudioError(f"label-studio did not answer within {timeout:.0f} s; see {data_dir / LOG}")


def _wait_until_answering(url: str, pid: int, data_dir: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not health(url, timeout=2):
        if not process.alive(pid):
            raise StudioError(f"label-studio (pid {pid}) exited; see {data_dir / LOG}")
        if time.monotonic() > deadline:
            raise StudioError(
                f"label-studio (pid {pid}) runs but does not answer at {url}; "
                f"see {data_dir / LOG}, or `annotate studio stop` and start again"
            )
        time.sleep(1.0)


def _terminate(state: dict, grace: float = 20.0) -> bool:
    return process.terminate(state, LABEL_STUDIO_MARKERS, grace)


def stop(data_dir: str | Path | None = None) -> str:
    """End the server that `data_dir`'s `server.json` records (exactly that process group).

    A server recorded there is stopped whatever `LABEL_STUDIO_URL` says. With no data dir
    given and a team server set, nothing is stopped. Returns what happened, in a sentence.
    """
    team = remote()
    if team and data_dir is None:
        return "LABEL_STUDIO_URL is set: the team server is not ours to stop."
    data_dir = data_dir_path(data_dir).resolve()
    state = read_json(data_dir / STATE)
    if not state:
        if team:
            return "LABEL_STUDIO_URL is set: the team server is not ours to stop."
        return f"no server recorded in {data_dir}"
    if not _is_ours(state):
        (data_dir / STATE).unlink(missing_ok=True)
        return f"server (pid {state.get('pid')}) was not running"
    _terminate(state)
    (data_dir / STATE).unlink(missing_ok=True)
    return f"stopped Label Studio (pid {state['pid']}) at {state['url']}"


def status(data_dir: str | Path | None = None) -> dict[str, Any]:
    """Whether the server answers, where, and where its login is kept."""
    team = remote()
    if team:
        url, key = team
        return {"remote": True, "running": health(url), "url": url, "api_key": key}
    data_dir = data_dir_path(data_dir).resolve()
    state = read_json(data_dir / STATE) or {}
    creds = read_json(data_dir / CREDENTIALS) or {}
    url = state.get("url") or creds.get("url") or ""
    running = bool(state) and _is_ours(state) and bool(url) and health(url)
    return {
        "remote": False,
        "running": running,
        "url": url,
        "pid": state.get("pid") if running else None,
        "host": state.get("host"),
        "data_dir": str(data_dir),
        "username": creds.get("username", ""),
        "api_key": creds.get("api_key", ""),
        "credentials": str(data_dir / CREDENTIALS),
        "log": str(data_dir / LOG),
    }


def describe(info: dict[str, Any]) -> str:
    """Human summary of `start()`/`status()` output; secrets shown masked only."""
    lines = []
    where = "team server (LABEL_STUDIO_URL)" if info.get("remote") else "Label Studio"
    if info.get("running"):
        lines.append(f"{where} is running at {info['url']}")
    else:
        lines.append(
            f"{where} is not running" + (f" (last at {info['url']})" if info.get("url") else "")
        )
    if not info.get("remote"):
        if info.get("pid"):
            lines.append(f"  pid       {info['pid']}")
        if info.get("username"):
            lines.append(f"  username  {info['username']}")
            lines.append(f"  password  in {info['credentials']} (mode 0600)")
        lines.append(f"  data      {info.get('data_dir', '')} (log: {info.get('log', '')})")
    if info.get("api_key"):
        lines.append(f"  API token {mask(info['api_key'])}")
    proj = info.get("project")
    if proj:
        lines.append(
            f"  project   {proj['title']!r} (id {proj['id']}, {proj.get('action', 'ok')}): "
            f"{info['url']}/projects/{proj['id']}"
        )
        if proj.get("overlap"):
            lines.append(f"  overlap   {proj['overlap']} annotation(s) per task")
    return "\n".join(lines)
