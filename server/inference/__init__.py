"""Inference: apply an app to a slide region, store class probabilities, render and export.

tiler (overlapping tiles), regions (what to cover), reader (prefetching slide reads),
predictor (batched forward), probstore (uint8 probabilities in zarr + pyramid), pipeline
(reader → model → writer), overlay (thresholded PNG tiles), stats, export, service (jobs),
batch (`slidelab apply`).
"""
