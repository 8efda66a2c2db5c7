// Reading a slide's annotation summary: which classes carry labels.

export interface AnnotationSummary {
  classes?: { class_id: number; area_px: number }[];
}

/** Which class ids have labels, from `GET /api/slides/<id>/annotations/summary`. */
export function labelledFromSummary(summary: AnnotationSummary | null | undefined): Set<number> {
  return new Set((summary?.classes ?? []).filter((c) => c.area_px > 0).map((c) => c.class_id));
}
