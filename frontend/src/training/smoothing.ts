// Exponential moving average for the convergence curve, as TensorBoard draws it.

/**
 * Smooth `values` with an EMA of `weight` (0 = none, towards 1 = smoother).
 * Debiased so the first points are not pulled towards zero; gaps (null, NaN) stay gaps
 * and do not disturb the average.
 */
export function ema(
  values: readonly (number | null | undefined)[],
  weight: number,
): (number | null)[] {
  const w = Math.min(Math.max(weight, 0), 0.999);
  let last = 0;
  let count = 0;
  return values.map((value) => {
    if (value === null || value === undefined || !Number.isFinite(value)) return null;
    if (w === 0) return value;
    last = last * w + (1 - w) * value;
    count += 1;
    return last / (1 - Math.pow(w, count));
  });
}
