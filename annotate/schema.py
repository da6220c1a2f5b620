"""The label schema, read from `label_config.xml`: the only place label names live.

`load_schema()` parses the config with label-studio-sdk's `LabelInterface` and gives the
label set of each control. The toolkit relies on three roles, named in CONTRACTS.md:
span labels (control `technique`), document frames (control `frame`) and the relation
`repeats`, with `Repetition` being the span label used for repeated passages.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from annotate import resources
from annotate.errors import BadInput

SPAN_CONTROL = "technique"
FRAME_CONTROL = "frame"
REPEATS_RELATION = "repeats"
REPETITION_LABEL = "Repetition"
TEXT_OBJECT = "text"

# The source checkout's root (site-packages in a wheel install); label files: resources.py.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def default_config_path() -> Path:
    """`$ANNOTATE_LABEL_CONFIG`, else `label_config.xml` in the working directory, else the
    shipped one (the repository's, or the copy inside an installed wheel)."""
    return resources.label_config_path()


@dataclass(frozen=True)
class Schema:
    """Label sets per control, as the label config defines them."""

    path: str
    xml: str
    sha256: str
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    relations: tuple[str, ...] = ()

    @property
    def techniques(self) -> tuple[str, ...]:
        return self.labels.get(SPAN_CONTROL, ())

    @property
    def frames(self) -> tuple[str, ...]:
        return self.labels.get(FRAME_CONTROL, ())

    @property
    def controls(self) -> tuple[str, ...]:
        return tuple(self.labels)

    @property
    def repetition(self) -> str | None:
        """The span label for repeated passages, if the config has one."""
        return REPETITION_LABEL if REPETITION_LABEL in self.techniques else None

    def interface(self):
        """A label-studio-sdk `LabelInterface` for this config (validates predictions)."""
        from label_studio_sdk.label_interface import LabelInterface

        return LabelInterface(self.xml)

    def display_names(self, control: str) -> dict[str, str]:
        """Contract string (a label's `alias`, else its `value`) -> name shown to annotators."""
        return dict(_display_names(self.xml, control))

    def check_label(self, control: str, label: str, path=None, record=None) -> None:
        if label not in self.labels.get(control, ()):
            raise BadInput(
                f"label {label!r} is not a {control!r} label in the label config "
                f"({self.path}); use --label-map to map it",
                path,
                record,
            )


@lru_cache(maxsize=32)
def _display_names(xml: str, control: str) -> tuple[tuple[str, str], ...]:
    root = ET.fromstring(xml)
    for tag in root.iter():
        if tag.get("name") == control and tag.get("toName"):
            return tuple(
                (child.get("alias") or child.get("value"), child.get("value"))
                for child in tag.iter()
                if child is not tag and child.get("value") is not None
            )
    return ()


def load_schema(path: str | Path | None = None) -> Schema:
    path = Path(path) if path else default_config_path()
    try:
        xml = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BadInput("label config not found", path) from None
    return _parse(str(path), xml)


def schema_from_xml(xml: str, source: str = "label config") -> Schema:
    """The schema of a label config given as text (e.g. a Label Studio project's)."""
    return _parse(source, xml)


@lru_cache(maxsize=8)
def _parse(path: str, xml: str) -> Schema:
    from label_studio_sdk.label_interface import LabelInterface

    try:
        interface = LabelInterface(xml)
        root = ET.fromstring(xml)
    except Exception as exc:  # the SDK raises assorted errors for broken XML
        raise BadInput(f"not a valid Label Studio config: {exc}", path) from None
    labels: dict[str, tuple[str, ...]] = {}
    for name, control in interface._controls.items():
        values = tuple(getattr(control, "labels", None) or ())
        if values:
            labels[name] = values
    for required in (SPAN_CONTROL, FRAME_CONTROL):
        if required not in labels:
            raise BadInput(f"the label config has no control named {required!r}", path)
    relations = tuple(r.get("value") for r in root.iter("Relation") if r.get("value"))
    return Schema(
        path=path,
        xml=xml,
        sha256=hashlib.sha256(xml.encode("utf-8")).hexdigest(),
        labels=labels,
        relations=relations,
    )
