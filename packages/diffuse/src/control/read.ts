// Control images from files for sampling with a ControlNet: an image, a folder of images, or an
// .npz (arr_0 uint8 N×H×W×C). They must be the model's size; as maps they must have the
// ControlNet's channels (a gray edge map for canny/scribble), or with `detect` they are images the
// ControlNet's own detector turns into maps.
import { existsSync, statSync } from 'node:fs';

import * as torch from '@diffuse/torch';
import type { Tensor } from '@diffuse/torch';

import { decodeImage } from '../data/decode.js';
import { listImageFiles } from '../data/image-folder.js';
import { toChannels } from '../data/transforms.js';
import { DataError } from '../io/errors.js';
import { readNpzSync } from '../io/npz.js';
import type { RawImage } from '../io/raw-image.js';
import { controlMap, type ControlKind } from './maps.js';

export interface ReadControlOptions {
  /** The model's image side. */
  size: number;
  /** Channels of the ControlNet's control maps. */
  controlChannels: number;
  /** Channels of the model's images (for `detect`). */
  imageChannels: number;
  /** Make the maps from the images with this detector, instead of taking the files as maps. */
  detect?: ControlKind;
}

/** Whether every pixel of an RGB image is gray (R = G = B). */
function isGray(img: RawImage): boolean {
  if (img.channels === 1) return true;
  for (let i = 0; i < img.data.length; i += img.channels) if (img.data[i] !== img.data[i + 1] || img.data[i] !== img.data[i + 2]) return false;
  return true;
}

/**
 * Reads control images.
 * @param spec an image file, a folder of images (sorted by name), or an .npz.
 * @param o the model's size and channels, the ControlNet's channels, detect.
 * @returns (K, controlChannels, size, size) in [−1, 1].
 * @throws DataError (one line) for a missing file, a wrong size or wrong channels.
 */
export async function readControlImages(spec: string, o: ReadControlOptions): Promise<Tensor> {
  if (!existsSync(spec)) throw new DataError(`${spec}: no such control image, folder or .npz`, spec);
  let images: { name: string; img: RawImage }[];
  if (statSync(spec).isDirectory()) {
    const files = listImageFiles(spec).files;
    if (files.length === 0) throw new DataError(`${spec}: no images in this folder`, spec);
    images = [];
    for (const f of files) images.push({ name: f, img: await decodeImage(f) });
  } else if (spec.toLowerCase().endsWith('.npz')) {
    const arr = readNpzSync(spec).get('arr_0');
    if (arr === undefined || arr.dtype !== 'uint8' || arr.shape.length !== 4) throw new DataError(`${spec}: expected arr_0 uint8 N×H×W×C`, spec);
    const [n, h, w, c] = arr.shape as [number, number, number, number];
    const data = arr.data as Uint8Array;
    images = Array.from({ length: n }, (_, i) => ({ name: `${spec}[${i}]`, img: { data: data.subarray(i * h * w * c, (i + 1) * h * w * c), width: w, height: h, channels: c } }));
  } else {
    images = [{ name: spec, img: await decodeImage(spec) }];
  }
  const want = o.detect !== undefined ? o.imageChannels : o.controlChannels;
  const px = o.size * o.size;
  const out = new Float32Array(images.length * want * px);
  images.forEach(({ name, img }, k) => {
    if (img.width !== o.size || img.height !== o.size) {
      throw new DataError(`${name}: the control image is ${img.width}×${img.height}; this model makes ${o.size}×${o.size} images`, spec);
    }
    if (want === 1 && !isGray(img)) {
      throw new DataError(`${name}: the control image has colour (3 channels); ${o.detect !== undefined ? 'this model takes gray images' : 'this ControlNet takes 1-channel (gray) control maps'}`, spec);
    }
    const conv = toChannels(img, want); // H·W·want bytes
    for (let c = 0; c < want; c++) for (let i = 0; i < px; i++) out[(k * want + c) * px + i] = conv.data[i * want + c]! / 127.5 - 1;
  });
  const x = torch.tensor(out, { shape: [images.length, want, o.size, o.size] }); // (K, C, H, W)
  if (o.detect === undefined) return x;
  const map = controlMap(o.detect, x);
  x.dispose();
  return map;
}
