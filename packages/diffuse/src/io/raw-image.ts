// An 8-bit image in memory: H×W×C bytes, row-major, channels interleaved (HWC).

/** An 8-bit image: `data` holds height·width·channels bytes in HWC order. */
export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. */
  channels: number;
}

/**
 * Checks that an image's buffer matches its declared size.
 * @param img the image.
 * @param what who is asking (for the error message).
 */
export function checkRawImage(img: RawImage, what: string): void {
  const { width, height, channels, data } = img;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`${what}: width and height must be positive integers, got ${width}×${height}`);
  }
  if (![1, 2, 3, 4].includes(channels)) throw new RangeError(`${what}: channels must be 1, 2, 3 or 4, got ${channels}`);
  if (data.length !== width * height * channels) {
    throw new RangeError(`${what}: ${data.length} bytes for ${height}×${width}×${channels} (needs ${width * height * channels})`);
  }
}
