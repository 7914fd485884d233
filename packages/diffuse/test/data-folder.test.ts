// Image folders: improved-diffusion's listing order, class labels from prefixes and sub-folders,
// and errors for missing or empty folders.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import sharp from 'sharp';
import { ClassSource, ImageFolderDataset, listImageFiles } from '../src/data/image-folder.js';
import { assertDataError, tempDir } from './io-helpers.js';

const { dir, cleanup } = tempDir('folder');
after(cleanup);
const png = (rgb: [number, number, number]) =>
  sharp({ create: { width: 6, height: 5, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer();

before(async () => {
  const root = join(dir, 'prefix');
  mkdirSync(join(root, 'sub', 'deeper.png'), { recursive: true }); // a folder named like an image
  const files: Record<string, Buffer> = {
    'cat_001.png': await png([1, 0, 0]),
    'cat_002.png': await png([2, 0, 0]),
    'dog_001.png': await png([3, 0, 0]),
    'dog_b_002.jpg': await sharp(await png([4, 0, 0])).jpeg().toBuffer(),
    'bird.png': await png([5, 0, 0]),
    'sub/cat_003.webp': await sharp(await png([6, 0, 0])).webp().toBuffer(),
    'sub/deeper.png/emu_1.GIF': await sharp(await png([7, 0, 0])).gif().toBuffer(),
  };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(root, name), bytes);
  writeFileSync(join(root, 'notes.txt'), 'not an image');
  writeFileSync(join(root, '.hidden.png'), 'hidden');
  writeFileSync(join(root, 'sub', 'README'), 'no extension');

  const byFolder = join(dir, 'folders');
  mkdirSync(join(byFolder, 'b', 'z'), { recursive: true });
  mkdirSync(join(byFolder, 'a'));
  writeFileSync(join(byFolder, 'a', 'x.png'), await png([0, 1, 0]));
  writeFileSync(join(byFolder, 'b', 'y.png'), await png([0, 2, 0]));
  writeFileSync(join(byFolder, 'b', 'z', 'w.png'), await png([0, 3, 0]));
  mkdirSync(join(dir, 'empty'));
  mkdirSync(join(dir, 'text-only'));
  writeFileSync(join(dir, 'text-only', 'a.txt'), 'x');
});

test('listing: sorted names, depth first, image extensions only (case-insensitive)', () => {
  const root = join(dir, 'prefix');
  const { files, skipped } = listImageFiles(root);
  assert.deepEqual(
    files.map((f) => relative(root, f)),
    ['bird.png', 'cat_001.png', 'cat_002.png', 'dog_001.png', 'dog_b_002.jpg', 'sub/cat_003.webp', 'sub/deeper.png/emu_1.GIF'],
  );
  assert.equal(skipped, 3); // .hidden.png, notes.txt, sub/README
});

test('classes from the file-name prefix before "_", sorted (improved-diffusion)', async () => {
  const ds = new ImageFolderDataset(join(dir, 'prefix'), { size: 4, classes: ClassSource.PREFIX });
  // "bird.png" has no "_": the whole name is its class, as in improved-diffusion.
  assert.deepEqual(ds.classNames, ['bird.png', 'cat', 'dog', 'emu']);
  assert.deepEqual(Array.from(ds.labels!), [0, 1, 1, 2, 2, 1, 3]);
  assert.equal(ds.numClasses, 4);
  assert.deepEqual([ds.length, ds.channels, ds.size, ds.skipped], [7, 3, 4, 3]);
  const s = await ds.getAsync(2); // cat_002.png, red = 2
  assert.equal(s.label, 1);
  assert.equal(s.image[0], Math.fround(Math.fround(2 / 127.5) - 1));
  assert.equal(s.image.length, 3 * 4 * 4);
});

test('classes from sub-folders; unlabeled folders give label -1', async () => {
  const ds = new ImageFolderDataset(join(dir, 'folders'), { size: 4, channels: 1, classes: ClassSource.FOLDER });
  assert.deepEqual(ds.classNames, ['a', 'b']);
  assert.deepEqual(Array.from(ds.labels!), [0, 1, 1]);
  assert.equal((await ds.getAsync(2)).image.length, 16);
  const none = new ImageFolderDataset(join(dir, 'folders'), { size: 4 });
  assert.deepEqual([none.numClasses, none.label(0), (await none.getAsync(0)).label], [0, -1, -1]);
  // Folder labels need every image inside a class folder.
  writeFileSync(join(dir, 'folders', 'top.png'), await png([9, 9, 9]));
  await assertDataError(() => new ImageFolderDataset(join(dir, 'folders'), { size: 4, classes: ClassSource.FOLDER }), /top\.png: not inside a class folder/);
});

test('missing, empty and image-less folders give one-line DataErrors', async () => {
  await assertDataError(() => new ImageFolderDataset(join(dir, 'nope'), { size: 8 }), /nope: no such folder/);
  await assertDataError(() => new ImageFolderDataset(join(dir, 'empty'), { size: 8 }), /empty: no images found/);
  await assertDataError(() => new ImageFolderDataset(join(dir, 'text-only'), { size: 8 }), /text-only: no images found/);
  await assertDataError(() => new ImageFolderDataset(join(dir, 'prefix', 'cat_001.png'), { size: 8 }), /is a file, expected a folder/);
});
