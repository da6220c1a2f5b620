"""The ML backend's web app: the protocol Label Studio 1.23 speaks, on Starlette + uvicorn.

    GET  /health   {"status": "UP", "model_version": ...}
    POST /setup    {"model_version": ...}; refuses a label config the model was not trained for
    POST /predict  {"results": [{result, score, model_version}, ...]}, one per task
    POST /webhook  ANNOTATION_CREATED / _UPDATED / _DELETED, START_TRAINING -> the retrainer
    GET  /versions {"versions": [...]}: the model versions this process has served

The model loads in a thread when the app starts (its version is read from `model.json` at
once, so /health and /setup answer within milliseconds); /predict waits for it. Scoring runs
in a worker thread, training in a subprocess (`retrain`), so the event loop always answers.

Safety: HTTP basic auth when a user:password is given (every endpoint, compared in constant
time); request bodies above `max_body` bytes get 413 before they are read in full; a body that
is not what Label Studio sends gets 400 with a message; an unexpected failure gets 500 with
the exception type only (the traceback goes to the log). Request bodies are never logged:
/setup carries the project owner's API token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from annotate.errors import BadInput
from annotate.learn import info as learn_info
from annotate.schema import Schema, load_schema
from annotate.serve.predict import RequestError, answer, project_schema

log = logging.getLogger("annotate.serve")

MAX_BODY = 64 * 1024 * 1024  # a retrieve of a few thousand long articles in one request
LOAD_WAIT = 600.0  # seconds /predict waits for the model to finish loading
TRAINING_ACTIONS = ("ANNOTATION_CREATED", "ANNOTATION_UPDATED", "ANNOTATION_DELETED")


class BodyTooLarge(RequestError):
    status = 413


class ModelUnavailable(RequestError):
    """No model to answer with yet (still loading, or it failed to load)."""

    status = 503


def read_model_info(model_dir: Path) -> dict[str, Any]:
    """`model.json` of a model directory, which must name its model_version."""
    info = learn_info.read_model_info(model_dir)
    if "model_version" not in info:
        raise BadInput("model.json has no model_version", Path(model_dir) / learn_info.MODEL_JSON)
    return info


class ServedModel:
    """The model being served, swapped whole (model, info, directory) when a retrain ends."""

    def __init__(self, model_dir: str | Path, loader: Callable[[Path], Any] | None = None):
        self.model_dir = Path(model_dir)
        self.info = read_model_info(self.model_dir)
        self._loader = loader or _load_model
        self._model: Any = None
        self._error: str | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self.versions = [self.info["model_version"]]
        self.schema: Schema = load_schema()
        if self.info.get("label_config_sha256") != self.schema.sha256:
            raise BadInput(
                f"the model was trained for another label config than {self.schema.path}; "
                "retrain it with `annotate train`",
                self.model_dir,
            )

    @property
    def model_version(self) -> str:
        return self.info["model_version"]

    @property
    def error(self) -> str | None:
        """Why no model could be loaded, if it could not."""
        return self._error

    def load_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self._load_first, name="load-model", daemon=True)
        thread.start()
        return thread

    def _load_first(self) -> None:
        started = time.perf_counter()
        try:
            model = self._loader(self.model_dir)
            _warm_up(model, self.info, self.schema)
        except Exception as exc:  # BadInput (hash, label config) or a broken file
            self._error = f"cannot load the model in {self.model_dir}: {exc}"
            log.error("%s", self._error)
        else:
            with self._lock:
                self._model = model
            log.info("loaded %s in %.1f s", self.model_version, time.perf_counter() - started)
        self._ready.set()

    def current(self, timeout: float = LOAD_WAIT) -> tuple[Any, dict[str, Any]]:
        """(model, info) as one consistent pair; waits for the first load."""
        if not self._ready.wait(timeout):
            raise ModelUnavailable("the model is still loading")
        with self._lock:
            if self._model is None:
                raise ModelUnavailable(self._error or "no model loaded")
            return self._model, self.info

    def swap(self, model_dir: Path) -> str:
        """Load the model in `model_dir` (in the caller's thread) and serve it from now on."""
        info = read_model_info(model_dir)
        model = self._loader(model_dir)
        _warm_up(model, info, self.schema)
        with self._lock:
            self._model, self.info, self.model_dir = model, info, Path(model_dir)
            self._error = None
            if info["model_version"] not in self.versions:
                self.versions.append(info["model_version"])
        self._ready.set()
        log.info("now serving %s from %s", info["model_version"], model_dir)
        return info["model_version"]


def _warm_up(model: Any, info: dict[str, Any], schema: Schema) -> None:
    """One small prediction, so the first request does not pay for lazy set-up."""
    text = "A warm-up sentence, so that the first real request is as fast as the others."
    answer({"tasks": [{"id": 0, "data": {"text": text}}]}, model, info, schema)


def _load_model(model_dir: Path):
    from annotate.learn.model import Model

    return Model.load(model_dir)


# ---- requests ----------------------------------------------------------------------------------


async def read_json(request: Request, limit: int) -> Any:
    """The JSON body, refusing more than `limit` bytes as soon as that is known."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestError("bad Content-Length header")
        if int(declared) > limit:
            raise BodyTooLarge(f"request body of {declared} bytes is over the {limit}-byte limit")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise RequestError("the request body is empty; expected a JSON object")
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise RequestError("the request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise RequestError(f"the request body is not valid JSON ({exc})") from None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _request_error(request: Request, exc: Exception) -> JSONResponse:
    status = getattr(exc, "status", 400)
    return _error(status, str(exc))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _error(500, f"internal error ({type(exc).__name__}); see the serve log")


class BasicAuth:
    """Pure ASGI middleware: every HTTP request needs `Authorization: Basic user:password`."""

    def __init__(self, app, user: str, password: str):
        self.app = app
        self._expected = base64.b64encode(f"{user}:{password}".encode()).decode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or ()).get(b"authorization", b"").decode("latin-1")
        scheme, _, given = header.partition(" ")
        ok = False
        if scheme.lower() == "basic":
            with contextlib.suppress(binascii.Error, ValueError):
                base64.b64decode(given, validate=True)  # well-formed, or refused below
                ok = secrets.compare_digest(given.strip(), self._expected)
        if ok:
            await self.app(scope, receive, send)
            return
        response = JSONResponse(
            {"error": "authentication required"},
            status_code=401,
            headers={"WWW-Authenticate": 'Basic realm="annotate serve"'},
        )
        await response(scope, receive, send)


def parse_basic_auth(value: str | None) -> tuple[str, str] | None:
    """`USER:PASS` -> (user, pass); None for no auth."""
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise BadInput("basic auth must be given as USER:PASSWORD (both non-empty)")
    return user, password


# ---- the app -----------------------------------------------------------------------------------


def create_app(
    served: ServedModel,
    retrainer: Any = None,
    *,
    basic_auth: tuple[str, str] | None = None,
    max_body: int = MAX_BODY,
):
    """The ASGI app. `retrainer` (see `annotate.serve.retrain.Retrainer`) gets the webhooks."""

    async def health(request: Request) -> JSONResponse:
        body: dict[str, Any] = {"status": "UP", "model_version": served.model_version}
        if served.error:
            body.update(status="ERROR", error=served.error)
        if retrainer is not None:
            body["training"] = retrainer.status()
        return JSONResponse(body, status_code=503 if served.error else 200)

    async def setup(request: Request) -> JSONResponse:
        body = await read_json(request, max_body)
        if not isinstance(body, dict):
            raise RequestError("the /setup body must be a JSON object")
        project_schema(body.get("schema"), served.info, served.schema)
        if retrainer is not None:
            retrainer.remember_server(body.get("hostname"), body.get("access_token"))
        return JSONResponse({"model_version": served.model_version})

    async def predict(request: Request) -> JSONResponse:
        body = await read_json(request, max_body)

        def work() -> dict[str, Any]:
            model, info = served.current()
            return answer(body, model, info, served.schema)

        return JSONResponse(await run_in_threadpool(work))

    async def webhook(request: Request) -> JSONResponse:
        body = await read_json(request, max_body)
        if not isinstance(body, dict) or not isinstance(body.get("action"), str):
            raise RequestError("a webhook body is a JSON object with an 'action'")
        action = body["action"]
        if retrainer is None or action not in (*TRAINING_ACTIONS, "START_TRAINING"):
            return JSONResponse({"status": "ignored", "action": action})
        project = body.get("project")
        title = project.get("title") if isinstance(project, dict) else None
        if not isinstance(title, str) or not title:
            raise RequestError(f"{action}: the payload names no project (project.title)")
        if action == "START_TRAINING":
            return JSONResponse(retrainer.start_training(title))
        annotation = body.get("annotation")
        submitted = (
            action != "ANNOTATION_DELETED"
            and isinstance(annotation, dict)
            and not annotation.get("was_cancelled")
        )
        return JSONResponse(retrainer.annotation(title, counts=submitted))

    async def versions(request: Request) -> JSONResponse:
        return JSONResponse({"versions": list(served.versions)})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        served.load_in_background()
        try:
            yield
        finally:
            if retrainer is not None:
                await asyncio.to_thread(retrainer.close)

    app = Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/", health, methods=["GET"]),
            Route("/setup", setup, methods=["POST"]),
            Route("/predict", predict, methods=["POST"]),
            Route("/webhook", webhook, methods=["POST"]),
            Route("/versions", versions, methods=["GET"]),
        ],
        exception_handlers={RequestError: _request_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    if basic_auth:
        app.add_middleware(BasicAuth, user=basic_auth[0], password=basic_auth[1])
    return app


def run(
    model_dir: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 9090,
    base: list[Path] | None = None,
    config: Path | None = None,
    retrain_every: int = 20,
    keep: int = 3,
    models_dir: Path | None = None,
    basic_auth: str | None = None,
    max_body: int = MAX_BODY,
) -> None:
    """`annotate serve`: serve the model until interrupted (uvicorn, one process)."""
    import uvicorn

    from annotate.schema import PACKAGE_ROOT
    from annotate.serve.retrain import Retrainer

    model_dir = Path(model_dir)
    served = ServedModel(model_dir)
    if config is None and (PACKAGE_ROOT / "models" / "default.toml").is_file():
        config = PACKAGE_ROOT / "models" / "default.toml"
    for corpus in base or ():
        if not Path(corpus).is_dir():
            raise BadInput("base corpus directory not found", corpus)
    retrainer = Retrainer(
        models_dir=models_dir or model_dir.parent / f"{model_dir.name}-retrained",
        on_model=served.swap,
        base=base or (),
        config=config,
        every=retrain_every,
        keep=keep,
    )
    app = create_app(served, retrainer, basic_auth=parse_basic_auth(basic_auth), max_body=max_body)
    log.warning(
        "serving %s at http://%s:%d%s", served.model_version, host, port,
        " (basic auth)" if basic_auth else "",
    )  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
