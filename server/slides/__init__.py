"""Slides: discovery under the slide roots, open handles, Deep Zoom tiles and their cache."""
