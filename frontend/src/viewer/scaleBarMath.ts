// Choosing a scale bar: a round physical length whose on-screen width fits a target.

export interface ScaleBarChoice {
  /** Length the bar stands for, in µm. */
  lengthUm: number;
  /** Its width on screen, in CSS px. */
  widthPx: number;
  /** "200 µm", "1 mm". */
  label: string;
}

const STEPS = [1, 2, 5];

/** "500 µm", "1 mm", "2.5 mm", "0.5 µm". */
export function formatLength(um: number): string {
  if (um >= 1000) return `${trim(um / 1000)} mm`;
  return `${trim(um)} µm`;
}

function trim(value: number): string {
  return String(Number(value.toPrecision(6)));
}

/**
 * The longest round length (1, 2 or 5 × 10^k µm) whose bar is at most `maxPx` wide,
 * given how many µm one screen pixel covers. Null when the resolution is unknown.
 */
export function chooseScaleBar(umPerScreenPx: number, maxPx = 160): ScaleBarChoice | null {
  if (!Number.isFinite(umPerScreenPx) || umPerScreenPx <= 0 || maxPx <= 0) return null;
  const maxUm = umPerScreenPx * maxPx;
  let exponent = Math.floor(Math.log10(maxUm));
  for (;;) {
    const scale = 10 ** exponent;
    for (let i = STEPS.length - 1; i >= 0; i -= 1) {
      const lengthUm = STEPS[i] * scale;
      if (lengthUm <= maxUm * (1 + 1e-9)) {
        const rounded = Number(lengthUm.toPrecision(6));
        const widthPx = rounded / umPerScreenPx;
        return { lengthUm: rounded, widthPx, label: formatLength(rounded) };
      }
    }
    exponent -= 1;
  }
}
