#!/usr/bin/env node
// Finds libtorch for the native build: $LIBTORCH (an unpacked libtorch with include/ and lib/),
// else the system install (Debian/Ubuntu libtorch-dev). Used by binding.gyp and the install script.
//   node find-libtorch.cjs            -> JSON description, or exit 1 with the fix on stderr
//   node find-libtorch.cjs --include  -> include dirs, space separated (for gyp)
//   node find-libtorch.cjs --libdir   -> the library directory
//   node find-libtorch.cjs --libs     -> linker flags
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const HELP =
  'diffuse: libtorch was not found. Either install the system package ' +
  '(Debian/Ubuntu, as root: apt-get install -y libtorch-dev libgloo-dev libopenblas0-pthread) ' +
  'or set LIBTORCH to an unpacked libtorch (a directory with include/ and lib/, for example a ' +
  'CUDA build of libtorch 2.x from pytorch.org), then run npm install again.';

function has(p) {
  try { fs.accessSync(p); return true; } catch { return false; }
}

function describe(root, include, libdir) {
  const cuda = has(path.join(libdir, 'libtorch_cuda.so'));
  return {
    root,
    include,
    libdir,
    cuda,
    libs: ['-ltorch', '-ltorch_cpu', '-lc10', ...(cuda ? ['-ltorch_cuda', '-lc10_cuda'] : [])],
  };
}

function find() {
  const env = process.env.LIBTORCH;
  if (env) {
    const root = path.resolve(env);
    const inc = path.join(root, 'include');
    const lib = path.join(root, 'lib');
    if (!has(path.join(inc, 'torch')) || !has(path.join(lib, 'libtorch.so'))) {
      throw new Error(`LIBTORCH=${env} does not hold include/torch and lib/libtorch.so. ${HELP}`);
    }
    return describe(root, [inc, path.join(inc, 'torch/csrc/api/include')], lib);
  }
  const multiarch = [`${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu`];
  for (const m of multiarch) {
    const lib = `/usr/lib/${m}`;
    if (has('/usr/include/torch/csrc/api/include/torch/torch.h') && has(path.join(lib, 'libtorch.so'))) {
      return describe('/usr', ['/usr/include', '/usr/include/torch/csrc/api/include'], lib);
    }
  }
  throw new Error(HELP);
}

module.exports = { find, HELP };

if (require.main === module) {
  let d;
  try {
    d = find();
  } catch (e) {
    process.stderr.write(e.message + '\n');
    process.exit(1);
  }
  const arg = process.argv[2];
  if (arg === '--include') process.stdout.write(d.include.join(' '));
  else if (arg === '--libdir') process.stdout.write(d.libdir);
  else if (arg === '--libs') process.stdout.write(d.libs.join(' '));
  else process.stdout.write(JSON.stringify(d, null, 2) + '\n');
}
