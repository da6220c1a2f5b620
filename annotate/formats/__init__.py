"""Pure converters between outside formats (PTC, SemEval-2023, BABE, Label Studio) and ours."""
