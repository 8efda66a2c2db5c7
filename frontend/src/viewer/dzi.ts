// Reading a Deep Zoom descriptor (XML) into the numbers a custom tile source needs.

export interface DziInfo {
  width: number;
  height: number;
  tileSize: number;
  overlap: number;
  format: string;
}

function attr(xml: string, element: string, name: string): string | null {
  const tag = new RegExp(`<(?:\\w+:)?${element}\\b[^>]*>`, "i").exec(xml);
  if (!tag) return null;
  const value = new RegExp(`\\b${name}\\s*=\\s*["']([^"']*)["']`, "i").exec(tag[0]);
  return value ? value[1] : null;
}

/** Parse `<Image TileSize Overlap Format><Size Width Height/></Image>`; throws when malformed. */
export function parseDzi(xml: string): DziInfo {
  const info = {
    width: Number(attr(xml, "Size", "Width")),
    height: Number(attr(xml, "Size", "Height")),
    tileSize: Number(attr(xml, "Image", "TileSize")),
    overlap: Number(attr(xml, "Image", "Overlap") ?? 0),
    format: attr(xml, "Image", "Format") ?? "png",
  };
  if (![info.width, info.height, info.tileSize].every((n) => Number.isFinite(n) && n > 0)) {
    throw new Error("The overlay descriptor is not a valid Deep Zoom image.");
  }
  return info;
}

/** The highest Deep Zoom level (full resolution) of an image. */
export function maxLevel(width: number, height: number): number {
  return Math.ceil(Math.log2(Math.max(width, height, 1)));
}
