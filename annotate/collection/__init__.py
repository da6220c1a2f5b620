"""The collection report: what a scored collection says, summarised in one streaming pass.

`summarize(records)` reads score records (CONTRACTS.md section 6) once and returns a plain
dict (what `annotate report --json` writes); `render_html(summary)` turns that dict into one
self-contained page (what `--out` writes). The summary holds:

- the collection: documents, the share the model calls propaganda (document score >= the
  threshold, 0.5), techniques by span count and by share of documents, frames by share;
- by outlet and over time, when the records' `meta` names an outlet (`outlet`, `source`,
  `domain`, `site`, `publisher`, else the host of `url`) and a date (`date`, `published`, ...;
  ISO strings): propaganda share and top techniques per outlet, techniques and frames per
  week (dates spanning up to 26 weeks) or month;
- coordinated passages: cross-document repeats (`source: "repeats"` spans whose `of` names
  another document) joined into groups, ranked by distinct outlets, then documents; groups
  whose documents all come from one outlet (footers, disclaimers) are listed apart;
- the most propagandistic documents with their spans (in the article's text when
  `attach_texts` is given the input documents, else each span's own text).

The modules, in the order data flows through them: `meta` (a record's outlet and date),
`groups` (the passage union-find), `summary` (the streaming pass), `render` and `listings`
(the page).
"""

from annotate.collection.groups import REPEATS_SOURCE, PassageGroups
from annotate.collection.meta import DATE_FIELDS, OUTLET_FIELDS, date_of, outlet_of
from annotate.collection.render import render_html
from annotate.collection.summary import (
    PROPAGANDA_THRESHOLD,
    TOP_DOCUMENTS,
    Summarizer,
    attach_texts,
    describe,
    summarize,
    with_progress,
)

__all__ = [
    "DATE_FIELDS",
    "OUTLET_FIELDS",
    "PROPAGANDA_THRESHOLD",
    "REPEATS_SOURCE",
    "TOP_DOCUMENTS",
    "PassageGroups",
    "Summarizer",
    "attach_texts",
    "date_of",
    "describe",
    "outlet_of",
    "render_html",
    "summarize",
    "with_progress",
]
