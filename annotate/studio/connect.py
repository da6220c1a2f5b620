"""Connect `annotate serve` to a Label Studio project, and run it beside the local server.

`connect_backend(url, project=...)` does what Settings -> Model -> Connect model does, through
the REST API (the body label-studio-sdk's `ml.create` sends to `POST /api/ml`), and switches
on what makes annotators see the model: `show_collab_predictions`, the project's
`model_version` set to the backend's title (Label Studio then asks the backend for
predictions of its current version when a task is opened or retrieved; it leaves
`evaluate_predictions_automatically` off, see `connect_backend`). It also makes
sure the backend's `/webhook` is registered (with the basic-auth header when there is one),
which is how submitted annotations reach the retrainer. Running it again changes nothing
that is already right: one backend per URL, one webhook.

Before registering, it calls the backend's own /health and /setup with the project's label
config, so a model trained for other labels is refused with the backend's clear message
rather than Label Studio's generic one.

`start_backend` / `stop_backend`: `annotate studio start --serve MODEL_DIR` runs `annotate
serve` as a background process recorded in `<data-dir>/serve.json` (log: serve.log), which
`annotate studio stop` ends.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from annotate.errors import StudioError
from annotate.studio import process

TITLE = "annotate"
STATE = "serve.json"
LOG = "serve.log"
START_TIMEOUT = float(os.environ.get("ANNOTATE_SERVE_START_TIMEOUT", "120"))
PREDICT_TIMEOUT = 100.0  # seconds Label Studio waits for /predict


def _auth_header(basic_auth: tuple[str, str] | None) -> dict[str, str]:
    if not basic_auth:
        return {}
    token = base64.b64encode(f"{basic_auth[0]}:{basic_auth[1]}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def check_backend(url: str, label_config: str, basic_auth: tuple[str, str] | None) -> str:
    """The backend's model_version, after its /setup accepted the project's label config."""
    headers = _auth_header(basic_auth)
    try:
        r = requests.get(f"{url}/health", headers=headers, timeout=10)
        if r.status_code == 401:
            raise StudioError(f"the backend at {url} wants other credentials (HTTP 401)")
        r.raise_for_status()
        r = requests.post(
            f"{url}/setup", json={"schema": label_config}, headers=headers, timeout=30
        )
    except requests.RequestException as exc:
        raise StudioError(f"no ML backend answers at {url} ({str(exc)[:200]})") from None
    if r.status_code >= 400:
        try:
            message = r.json().get("error", r.text)
        except ValueError:
            message = r.text
        raise StudioError(f"the backend at {url} refuses this project: {message[:500]}")
    return str(r.json().get("model_version", ""))


def connect_backend(
    url: str,
    *,
    project: str,
    title: str = TITLE,
    interactive: bool = True,
    basic_auth: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Register the backend at `url` with the project (idempotent); returns what was done."""
    from annotate.studio.api import connect

    url = url.rstrip("/")
    api, ls_url = connect()
    found = api.find_project(project)
    if found is None:
        raise StudioError(f"Label Studio has no project titled {project!r} (see --project)")
    pid = found["id"]
    proj = api.get(f"/api/projects/{pid}/")
    model_version = check_backend(url, proj.get("label_config") or "", basic_auth)

    wanted: dict[str, Any] = {
        "url": url,
        "project": pid,
        "title": title,
        "is_interactive": interactive,
        "auth_method": "BASIC_AUTH" if basic_auth else "NONE",
        "timeout": PREDICT_TIMEOUT,
    }
    if basic_auth:
        wanted.update(basic_auth_user=basic_auth[0], basic_auth_pass=basic_auth[1])
    backends = api.get("/api/ml", params={"project": pid}) or []
    mine = [b for b in backends if str(b.get("url", "")).rstrip("/") == url]
    others = [b for b in backends if b not in mine]
    try:
        if mine:
            backend = mine[0]
            changes = {
                k: v
                for k, v in wanted.items()
                if k not in ("url", "project") and (k == "basic_auth_pass" or backend.get(k) != v)
            }
            if changes:
                backend = api.patch(f"/api/ml/{backend['id']}", json=changes)
                action = "updated"
            else:
                action = "unchanged"
        else:
            backend = api.post("/api/ml", json=wanted, retry=False)
            action = "connected"
    except StudioError as exc:
        hint = ""
        if "reserved network" in str(exc) or "SSRF" in str(exc) or "Ssrf" in str(exc):
            hint = (
                " (Label Studio refuses ML backends on private addresses: on a team server "
                "use an address it may reach, or set its SSRF options)"
            )
        raise StudioError(f"{exc}{hint}") from None

    settings = {
        "show_collab_predictions": True,
        "model_version": title,
        # True would also ask for predictions on every data-manager page load, racing the
        # request of the task being opened: the same prediction stored twice
        "evaluate_predictions_automatically": False,
    }
    changes = {k: v for k, v in settings.items() if proj.get(k) != v}
    if changes:
        api.patch(f"/api/projects/{pid}/", json=changes)
    webhook = _ensure_webhook(api, pid, f"{url}/webhook", _auth_header(basic_auth))
    return {
        "project": project,
        "project_id": pid,
        "label_studio": ls_url,
        "backend_id": backend["id"],
        "action": action,
        "url": url,
        "model_version": model_version,
        "interactive": interactive,
        "settings_changed": sorted(changes),
        "webhook": webhook,
        "other_backends": [b.get("url") for b in others],
    }


def _ensure_webhook(api, pid: int, hook_url: str, headers: dict[str, str]) -> str:
    """One webhook to the backend for all actions; 'refused: ...' if Label Studio will not."""
    hooks = api.get("/api/webhooks/", params={"project": pid}) or []
    same = [h for h in hooks if h.get("url") == hook_url and h.get("project") in (pid, None)]
    body = {
        "project": pid,
        "url": hook_url,
        "send_payload": True,
        "send_for_all_actions": True,
        "headers": headers,
        "is_active": True,
    }
    try:
        if same:
            hook = same[0]
            stale = {k: v for k, v in body.items() if k != "project" and hook.get(k) != v}
            if not stale:
                return "unchanged"
            api.patch(f"/api/webhooks/{hook['id']}/", json=stale)
            return "updated"
        api.post("/api/webhooks/", json=body, retry=False)
        return "created"
    except StudioError as exc:
        return f"refused: {str(exc)[:300]}"


def describe(result: dict[str, Any]) -> str:
    lines = [
        f"ML backend {result['url']} {result['action']} for project {result['project']!r} "
        f"(id {result['project_id']}), model {result['model_version']}"
        + (", interactive" if result["interactive"] else ""),
    ]
    webhook = result["webhook"]
    if webhook.startswith("refused"):
        lines.append(f"  webhook   {webhook}: annotations will not trigger retraining")
    else:
        lines.append(f"  webhook   {webhook} (submitted annotations retrain the model)")
    if result["settings_changed"]:
        lines.append(f"  project   switched on {', '.join(result['settings_changed'])}")
    if result["other_backends"]:
        lines.append(
            f"  warning   the project has other ML backends too: {', '.join(result['other_backends'])}"
        )
    lines.append(f"  open      {result['label_studio']}/projects/{result['project_id']}")
    return "\n".join(lines)


# ---- a backend process beside the local server --------------------------------------------------


SERVE_MARKERS = (("annotate", "serve"),)


def _ours(state: dict[str, Any]) -> bool:
    return process.is_recorded(state, SERVE_MARKERS)


def _read_state(data_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((data_dir / STATE).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _healthy(url: str, headers: dict[str, str]) -> bool:
    try:
        return requests.get(f"{url}/health", headers=headers, timeout=3).status_code == 200
    except requests.RequestException:
        return False


def start_backend(
    model_dir: str | Path,
    *,
    data_dir: str | Path,
    host: str = "127.0.0.1",
    port: int = 9090,
    extra_args: list[str] | None = None,
    basic_auth: tuple[str, str] | None = None,
    timeout: float = START_TIMEOUT,
) -> dict[str, Any]:
    """Run `annotate serve --model MODEL_DIR` in the background (or keep the one running for
    the same model), recorded in DATA_DIR; returns {url, pid, model, started}."""
    data_dir = Path(data_dir).resolve()
    model_dir = Path(model_dir).resolve()
    if not (model_dir / "model.json").is_file():
        raise StudioError(f"{model_dir} is not a model directory (no model.json)")
    state = _read_state(data_dir)
    url_host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    url = f"http://{url_host}:{port}"
    if state and _ours(state):
        if state.get("model") == str(model_dir) and state.get("url") == url:
            return {**state, "started": False}
        stop_backend(data_dir)
    headers = _auth_header(basic_auth)
    if _healthy(url, headers):
        raise StudioError(f"something already answers at {url}; choose another --serve-port")
    cmd = [sys.executable, "-m", "annotate", "serve", "--model", str(model_dir)]
    cmd += ["--host", host, "--port", str(port), *(extra_args or [])]
    env = {**os.environ, "ANNOTATE_STUDIO_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    log = open(data_dir / LOG, "ab")
    try:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    state = {"pid": proc.pid, "url": url, "model": str(model_dir), "started_at": time.time()}
    (data_dir / STATE).write_text(json.dumps(state) + "\n", encoding="utf-8")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            (data_dir / STATE).unlink(missing_ok=True)
            tail = (data_dir / LOG).read_text(errors="replace").strip().splitlines()[-5:]
            raise StudioError(
                f"annotate serve exited with status {proc.returncode}: " + " | ".join(tail)
            )
        if _healthy(url, headers):
            return {**state, "started": True}
        time.sleep(0.5)
    stop_backend(data_dir)
    raise StudioError(f"annotate serve did not answer at {url} within {timeout:.0f} s")


def stop_backend(data_dir: str | Path) -> str | None:
    """End the background `annotate serve` recorded in DATA_DIR (its process group)."""
    data_dir = Path(data_dir).resolve()
    state = _read_state(data_dir)
    if not state:
        return None
    (data_dir / STATE).unlink(missing_ok=True)
    if not _ours(state):
        return None
    pid = int(state["pid"])
    process.terminate(state, SERVE_MARKERS, grace=15)
    return f"stopped annotate serve (pid {pid}) at {state.get('url')}"
