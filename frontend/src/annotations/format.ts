// Label areas: in µm² or mm² as core/format says them, in px² when the slide has no µm/px.

import { formatAreaUm2, formatNumber } from "../core/format";

/** "0 µm²", "4,200 µm²", "0.0421 mm²", "12.3 mm²"; "1,234 px²" when µm² is unknown. */
export function formatArea(areaUm2: number | null, areaPx: number): string {
  if (areaUm2 === null || !Number.isFinite(areaUm2)) return `${formatNumber(areaPx)} px²`;
  return formatAreaUm2(areaUm2);
}
