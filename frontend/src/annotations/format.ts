// Human-readable areas: µm² for small regions, mm² for large ones, px² without a resolution.

const UM2_PER_MM2 = 1_000_000;

function group(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** "0 µm²", "4,200 µm²", "0.0421 mm²", "12.3 mm²"; "1,234 px²" when µm² is unknown. */
export function formatArea(areaUm2: number | null, areaPx: number): string {
  if (areaUm2 === null || !Number.isFinite(areaUm2)) return `${group(areaPx)} px²`;
  if (areaUm2 < 10_000) return `${group(areaUm2)} µm²`;
  const mm2 = areaUm2 / UM2_PER_MM2;
  return `${Number(mm2.toPrecision(3)).toString()} mm²`;
}
