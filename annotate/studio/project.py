"""The Label Studio project, set up from `label_config.xml`: create or update it (title, label
config, annotator guidelines, overlap), find it, and keep its Data Manager tabs and sampling."""

from __future__ import annotations

import html
import os
import re
from typing import Any

from annotate.errors import StudioError
from annotate.resources import guidelines_text
from annotate.schema import Schema, load_schema
from annotate.studio.api import Api

# the project every command uses unless told (`--project`), `$ANNOTATE_PROJECT` if set
DEFAULT_TITLE = os.environ.get("ANNOTATE_PROJECT") or "Propaganda and framing"
DESCRIPTION = "Propaganda techniques, repeated passages and frames in news text."


def guidelines_html() -> str | None:
    """`docs/guidelines.md` (cwd, else shipped: resources.py) as HTML for the annotator pop-up."""
    text = guidelines_text()
    return markdown_to_html(text) if text is not None else None


def markdown_to_html(md: str) -> str:
    """A small Markdown subset (headings, lists, paragraphs) -> HTML, text escaped."""

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", s)
        s = re.sub(r"`(.+?)`", r"<code>\1</code>", s)
        return re.sub(r"(?<!\*)\*(?!\s)(.+?)\*", r"<i>\1</i>", s)

    out: list[str] = []
    para: list[str] = []
    in_list = False

    def flush() -> None:
        nonlocal in_list
        if para:
            out.append(f"<p>{inline(' '.join(para))}</p>")
            para.clear()
        if in_list:
            out.append("</ul>")
            in_list = False

    for line in md.splitlines():
        stripped = line.strip()
        heading = re.match(r"^(#{1,6})\s+(.*)$", stripped)
        item = re.match(r"^[-*+]\s+(.*)$", stripped)
        if not stripped:
            flush()
        elif heading:
            flush()
            level = min(len(heading.group(1)) + 1, 6)
            out.append(f"<h{level}>{inline(heading.group(2))}</h{level}>")
        elif item:
            if para:
                out.append(f"<p>{inline(' '.join(para))}</p>")
                para.clear()
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{inline(item.group(1))}</li>")
        else:
            para.append(stripped)
    flush()
    return "\n".join(out)


def _differs(have: Any, want: Any) -> bool:
    if isinstance(want, str) and isinstance(have, str):
        return have.strip() != want.strip()
    return have != want


def sync_project(
    api: Api,
    title: str = DEFAULT_TITLE,
    schema: Schema | None = None,
    *,
    overlap: int | None = None,
) -> dict[str, Any]:
    """Create the project titled `title`, or update its label config: exactly one by title.

    `overlap` (when given) sets `maximum_annotations`: how many annotators may submit each
    task, every task (`overlap_cohort_percentage` 100) - for inter-annotator agreement.
    Returns {id, title, action: created|updated|unchanged, overlap}.
    """
    schema = schema or load_schema()
    instructions = guidelines_html()
    wanted: dict[str, Any] = {"label_config": schema.xml}
    if instructions is not None:
        wanted.update(expert_instruction=instructions, show_instruction=True)
    if overlap is not None:
        wanted.update(maximum_annotations=overlap, overlap_cohort_percentage=100)
    found = api.find_project(title)
    if found is None:
        body = {
            "title": title,
            "description": DESCRIPTION,
            "show_collab_predictions": True,
            "show_skip_button": True,
            "enable_empty_annotation": True,
            **wanted,
        }
        proj = api.post("/api/projects/", json=body)
        action = "created"
    else:
        changes = {k: v for k, v in wanted.items() if _differs(found.get(k), v)}
        if changes:
            proj = api.patch(f"/api/projects/{found['id']}/", json=changes)
            action = "updated"
        else:
            proj, action = found, "unchanged"
    return {
        "id": proj["id"],
        "title": proj["title"],
        "action": action,
        "overlap": proj.get("maximum_annotations", 1),
    }


def open_project(
    api: Api, title: str = DEFAULT_TITLE, schema: Schema | None = None, *, create: bool = False
) -> dict[str, Any]:
    """The project titled `title` as Label Studio describes it; with `create`, made if missing.

    Two clients creating it at once both succeed, and the lowest id is the one both use (the
    other, still empty, is deleted).
    """
    found = api.find_project(title)
    if found is not None:
        return found
    if not create:
        raise StudioError(f"Label Studio has no project titled {title!r} (see --project)")
    made = sync_project(api, title, schema)
    first = api.find_project(title)
    if first is not None and first["id"] != made["id"]:  # another push created it meanwhile
        api.delete(f"/api/projects/{made['id']}/")  # ours is empty: the lowest id stays
        return first
    return api.get(f"/api/projects/{made['id']}/")


def set_sampling(api: Api, project_id: int, sampling: str, model_version: str) -> None:
    """Label Studio's task order for annotators (e.g. "Uncertainty sampling": the lowest
    prediction score of `model_version` first)."""
    api.patch(
        f"/api/projects/{project_id}/",
        json={"sampling": sampling, "model_version": model_version},
    )


def ensure_view(api: Api, project_id: int, title: str, data: dict[str, Any]) -> int:
    """The id of the Data Manager tab titled `title`, created or updated to show `data`
    (filters, ordering, columns)."""
    wanted = {"title": title, **data}
    for view in api.get("/api/dm/views/", params={"project": project_id}) or []:
        if (view.get("data") or {}).get("title") == title:
            api.patch(f"/api/dm/views/{view['id']}/", json={"project": project_id, "data": wanted})
            return int(view["id"])
    made = api.post("/api/dm/views/", json={"project": project_id, "data": wanted})
    return int(made["id"])
