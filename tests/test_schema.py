"""label_config.xml: valid for Label Studio's LabelInterface and the only source of labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotate.errors import BadInput
from annotate.schema import (
    FRAME_CONTROL,
    REPEATS_RELATION,
    REPETITION_LABEL,
    SPAN_CONTROL,
    TEXT_OBJECT,
    load_schema,
)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"


def read_names(path: Path) -> list[str]:
    if not path.is_file():
        pytest.skip(f"{path} not available")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def schema():
    return load_schema(REPO / "label_config.xml")


def test_label_config_parses_with_label_interface(schema):
    interface = schema.interface()
    assert set(interface._objects) == {TEXT_OBJECT}
    for control in (SPAN_CONTROL, FRAME_CONTROL):
        assert interface.get_control(control).to_name == [TEXT_OBJECT]
    assert schema.relations == (REPEATS_RELATION,)
    assert schema.repetition == REPETITION_LABEL


def test_span_labels_are_the_semeval2020_techniques(schema):
    names = read_names(DATA / "ptc" / "propaganda-techniques-names-semeval2020task11.txt")
    assert sorted(schema.techniques) == sorted(names)
    assert len(schema.techniques) == 14


def test_frames_are_the_semeval2023_frames(schema):
    names = read_names(DATA / "semeval2023" / "frames_subtask2.txt")
    assert sorted(schema.frames) == sorted(names)


def test_display_names_map_to_contract_strings(schema):
    shown = schema.display_names(SPAN_CONTROL)
    assert set(shown) == set(schema.techniques)
    assert shown["Loaded_Language"] == "Loaded language"
    assert len(set(shown.values())) == len(shown)  # display names are unambiguous
    assert schema.display_names(FRAME_CONTROL)["Political"] == "Political"


def test_annotation_with_contract_strings_validates(schema):
    annotation = {
        "result": [
            {
                "id": "a",
                "from_name": SPAN_CONTROL,
                "to_name": TEXT_OBJECT,
                "type": "labels",
                "value": {"start": 0, "end": 4, "text": "Stop", "labels": ["Flag-Waving"]},
            },
            {
                "id": "b",
                "from_name": FRAME_CONTROL,
                "to_name": TEXT_OBJECT,
                "type": "choices",
                "value": {"choices": ["Political", "Morality"]},
            },
        ]
    }
    interface = schema.interface()
    assert interface.validate_prediction(annotation, return_errors=True) == []
    annotation["result"][0]["value"]["labels"] = ["Not_A_Technique"]
    assert interface.validate_prediction(annotation, return_errors=True)


def test_broken_config_is_bad_input(tmp_path):
    path = tmp_path / "broken.xml"
    path.write_text("<View><Labels name='technique' toName='text'>", encoding="utf-8")
    with pytest.raises(BadInput):
        load_schema(path)
