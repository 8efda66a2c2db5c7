// A result shown over the slide as a second tiled image whose tiles carry the threshold.
//
// Tiles are rendered by the server at the threshold in their URL, so a new threshold is a
// new set of URLs. To avoid a blank flash, the new layer is added on top and the old one
// removed once the new one has loaded what is in view (double buffering).

import type OpenSeadragon from "openseadragon";
import { dziUrl, overlayQuery, tileUrl, type OverlayParams } from "../core/resultUrls";
import { maxLevel, parseDzi, type DziInfo } from "./dzi";

const SWAP_TIMEOUT_MS = 4000;

type TiledImage = OpenSeadragon.TiledImage;

export class ResultOverlay {
  private item: TiledImage | null = null;
  private pending: TiledImage | null = null;
  private viewerOfItems: OpenSeadragon.Viewer | null = null;
  private info: DziInfo | null = null;
  private resultId: string | null = null;
  private params: OverlayParams = { threshold: 0, mode: "classes" };
  private opacity = 0.6;
  private visible = true;
  private seq = 0;

  /** `onLoaded(true)` fires when the layer in view is fully drawn, false while loading. */
  constructor(
    private readonly viewer: () => OpenSeadragon.Viewer | null,
    private readonly onLoaded: (
      loaded: boolean,
      resultId: string | null,
      query: string,
    ) => void = () => {},
  ) {}

  /** The result on screen, or null. */
  get shown(): string | null {
    return this.resultId;
  }

  /** Show result `resultId` (replacing any other) rendered with `params`. */
  async show(resultId: string, params: OverlayParams): Promise<void> {
    this.clear();
    const seq = this.seq;
    const response = await fetch(dziUrl(resultId), { credentials: "same-origin" });
    if (!response.ok)
      throw new Error(`The overlay of result ${resultId} is not available (${response.status}).`);
    const info = parseDzi(await response.text());
    if (seq !== this.seq) return;
    this.info = info;
    this.resultId = resultId;
    this.params = params;
    this.addLayer();
  }

  /** Re-render the shown result with new parameters (threshold, mode, class, version). */
  update(params: OverlayParams): void {
    this.params = params;
    if (this.resultId && this.info) this.addLayer();
  }

  /** Opacity 0..1 of the overlay. */
  setOpacity(opacity: number): void {
    this.opacity = opacity;
    this.applyOpacity();
  }

  /** Show or hide the overlay without dropping it. */
  setVisible(visible: boolean): void {
    this.visible = visible;
    this.applyOpacity();
  }

  /** Remove the overlay from the viewer. */
  clear(): void {
    this.seq += 1;
    this.removeItem(this.pending);
    this.removeItem(this.item);
    this.pending = null;
    this.item = null;
    this.resultId = null;
    this.info = null;
    this.onLoaded(false, null, "");
  }

  private effectiveOpacity(): number {
    return this.visible ? this.opacity : 0;
  }

  private applyOpacity(): void {
    this.item?.setOpacity(this.effectiveOpacity());
    this.pending?.setOpacity(this.effectiveOpacity());
  }

  private removeItem(item: TiledImage | null): void {
    const viewer = this.viewerOfItems;
    if (item && viewer && viewer.world.getIndexOfItem(item) >= 0) viewer.world.removeItem(item);
  }

  private addLayer(): void {
    const viewer = this.viewer();
    const info = this.info;
    const resultId = this.resultId;
    if (!viewer || !info || !resultId) return;
    if (viewer !== this.viewerOfItems) {
      this.item = null;
      this.pending = null;
      this.viewerOfItems = viewer;
    }
    const seq = ++this.seq;
    const params = { ...this.params };
    const tileSource = {
      width: info.width,
      height: info.height,
      tileSize: info.tileSize,
      tileOverlap: info.overlap,
      minLevel: 0,
      maxLevel: maxLevel(info.width, info.height),
      getTileUrl: (level: number, x: number, y: number) => tileUrl(resultId, level, x, y, params),
    };
    this.onLoaded(false, resultId, overlayQuery(params));
    viewer.addTiledImage({
      tileSource,
      x: 0,
      width: 1,
      opacity: this.effectiveOpacity(),
      success: (event) =>
        this.adopt((event as unknown as { item: TiledImage }).item, seq, overlayQuery(params)),
    });
  }

  private adopt(item: TiledImage, seq: number, query: string): void {
    if (seq !== this.seq) {
      this.removeItem(item);
      return;
    }
    this.removeItem(this.pending);
    this.pending = item;
    item.setOpacity(this.effectiveOpacity());
    let done = false;
    const promote = () => {
      if (done) return;
      done = true;
      if (this.pending !== item) return;
      const old = this.item;
      this.item = item;
      this.pending = null;
      this.removeItem(old);
      this.onLoaded(item.getFullyLoaded(), this.resultId, query);
    };
    if (item.getFullyLoaded()) promote();
    else {
      const handler = (event: OpenSeadragon.FullyLoadedChangeTiledImageEvent) => {
        if (!event.fullyLoaded) return;
        item.removeHandler("fully-loaded-change", handler);
        if (!done) promote();
        else if (this.item === item) this.onLoaded(true, this.resultId, query);
      };
      item.addHandler("fully-loaded-change", handler);
      setTimeout(promote, SWAP_TIMEOUT_MS);
    }
  }
}
