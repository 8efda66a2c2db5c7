"""Label classes and per-slide annotations: shapely geometry kept in SQLite."""
