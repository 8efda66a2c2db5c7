"""Post-processing of label images and measurements of their objects."""
