"""Annotator accounts: invite links, sign-up and login through Label Studio's own forms, and
who is who (user id -> e-mail) for naming annotators."""

from __future__ import annotations

import logging
from typing import Any

import requests

from annotate.errors import BadInput, StudioError
from annotate.studio.api import CONNECT_TIMEOUT, Api, connect, short_error

log = logging.getLogger("annotate")


def user_emails(api: Api) -> dict[int, str]:
    """User id -> e-mail of the server's users ({} when this key may not list them: names
    then come from the annotations themselves)."""
    try:
        body = api.get("/api/users/")
    except StudioError as exc:
        log.info("cannot list users (%s)", exc)
        return {}
    items = body.get("results", []) if isinstance(body, dict) else body
    return {u["id"]: u.get("email") or u.get("username") or f"user{u['id']}" for u in items}


def invite_url(api: Api) -> str:
    """The sign-up link that lets someone join this server's organization."""
    body = api.get("/api/invite")
    return f"{api.url}{body['invite_url']}"


def add_user(email: str, password: str | None = None) -> dict[str, Any]:
    """Create an annotator account (sign-up through the invite link), or just give the link.

    Returns {email, created: False, invite_url} without `password` (the person signs up
    themselves), else {email, created: True, url} once the new account can log in.
    """
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise BadInput(f"{email!r} is not an e-mail address")
    api, url = connect()
    link = invite_url(api)
    if password is None:
        return {"email": email, "created": False, "invite_url": link}
    if len(password) < 8:
        raise BadInput("the password must have at least 8 characters")
    try:
        _, r = post_form(link, {"email": email, "password": password})
    except requests.RequestException as exc:
        raise StudioError(f"cannot reach Label Studio at {url} ({short_error(exc)})") from None
    if r.status_code != 302:
        if "already" in r.text.lower() and "exist" in r.text.lower():
            raise BadInput(f"a user {email!r} already exists")
        raise StudioError(f"sign-up of {email!r} failed (HTTP {r.status_code})")
    if not can_log_in(url, email, password):
        raise StudioError(f"{email!r} was created but cannot log in")
    return {"email": email, "created": True, "url": url}


def post_form(page: str, fields: dict[str, str]) -> tuple[requests.Session, requests.Response]:
    """Submit one of Label Studio's HTML forms (login, sign-up) as a browser would: GET the
    page for its CSRF cookie, then POST the fields. Returns the session and the response."""
    session = requests.Session()
    timeout = (CONNECT_TIMEOUT, 60)
    session.get(page, timeout=timeout)
    data = {**fields, "csrfmiddlewaretoken": session.cookies.get("csrftoken", "")}
    r = session.post(
        page, data=data, headers={"Referer": page}, allow_redirects=False, timeout=timeout
    )
    return session, r


def login_session(url: str, email: str, password: str) -> requests.Session | None:
    """A session logged in through the login form, or None if the form refuses."""
    session, r = post_form(f"{url.rstrip('/')}/user/login/", {"email": email, "password": password})
    return session if r.status_code == 302 else None


def can_log_in(url: str, email: str, password: str) -> bool:
    """Does the login form accept these credentials?"""
    session = login_session(url, email, password)
    if session is None:
        return False
    who = session.get(f"{url.rstrip('/')}/api/current-user/whoami", timeout=(CONNECT_TIMEOUT, 60))
    return who.status_code == 200 and who.json().get("email") == email
