#!/usr/bin/env node
// npm install hook: makes sure libtorch, a fast BLAS and a font for plots are present, then
// builds the addon.
// On Debian/Ubuntu as root it installs what is missing through apt (set DIFFUSE_NO_APT=1 to
// forbid that); otherwise it stops with one paragraph saying what to run or to set LIBTORCH.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { find, HELP } = require('./find-libtorch.cjs');

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = fs.existsSync('/usr/bin/apt-get');
const mayApt = isRoot && hasApt && !process.env.DIFFUSE_NO_APT && !process.env.LIBTORCH;

function apt(pkgs) {
  console.log(`diffuse: installing ${pkgs.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '-q', ...pkgs], { stdio: 'inherit', env });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'inherit', env });
    r = spawnSync('apt-get', ['install', '-y', '-q', ...pkgs], { stdio: 'inherit', env });
  }
  return r.status === 0;
}

function referenceBlas() {
  // Debian routes libblas.so.3 through alternatives; the reference BLAS is ~40x slower.
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  try {
    const real = fs.realpathSync(`/usr/lib/${arch}-linux-gnu/libblas.so.3`);
    return !real.includes('openblas') && !real.includes('mkl') && !real.includes('blis');
  } catch {
    return false;
  }
}

let lt;
try {
  lt = find();
} catch (e) {
  if (!mayApt || !apt(['libtorch-dev', 'libgloo-dev', 'libopenblas0-pthread'])) {
    console.error(e.message);
    process.exit(1);
  }
  lt = find();
}

// torch.distributed (native/distributed.cc) compiles c10d's ProcessGroupGloo header, which
// includes Gloo's headers; Debian's libtorch-dev does not depend on libgloo-dev.
if (!process.env.LIBTORCH && !fs.existsSync('/usr/include/gloo/context.h') && !(mayApt && apt(['libgloo-dev']))) {
  console.error('diffuse: the Gloo headers are missing (torch.distributed needs them). As root: apt-get install -y libgloo-dev');
  process.exit(1);
}

if (!process.env.LIBTORCH && referenceBlas()) {
  if (!(mayApt && apt(['libopenblas0-pthread']))) {
    console.warn(
      'diffuse: warning: libblas.so.3 is the reference BLAS, about 40x slower for matrix products. ' +
        'Install OpenBLAS (as root: apt-get install -y libopenblas0-pthread).',
    );
  }
}

// Plots (loss.png, report charts) are SVG turned into PNG by sharp, whose text needs a system
// font through fontconfig; a fresh Debian has neither, and the labels would come out blank.
const hasFont = fs.existsSync('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf') && fs.existsSync('/etc/fonts/fonts.conf');
if (process.platform === 'linux' && !hasFont && !(mayApt && apt(['fonts-dejavu-core', 'fontconfig-config']))) {
  console.warn(
    'diffuse: warning: no DejaVu font found; text in plots (loss.png) may be missing. ' +
      'Install one (as root: apt-get install -y fonts-dejavu-core fontconfig-config).',
  );
}

console.log(`diffuse: building against libtorch in ${lt.root}${lt.cuda ? ' (with CUDA)' : ''}`);
// npm hands its bundled node-gyp to install scripts; outside npm, look beside node.
const bundled = path.join(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js');
const gyp = process.env.npm_config_node_gyp || (fs.existsSync(bundled) ? bundled : null);
// Build against the headers of the running node when they are installed beside it (no download).
const prefix = path.resolve(path.dirname(process.execPath), '..');
const local = fs.existsSync(path.join(prefix, 'include/node/node_api.h')) ? [`--nodedir=${prefix}`] : [];
const gypArgs = ['rebuild', '--jobs=max', ...local];
const [cmd, args] = gyp ? [process.execPath, [gyp, ...gypArgs]] : ['node-gyp', gypArgs];
const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: path.join(__dirname, '..') });
if (r.status !== 0) {
  const why = r.error ? r.error.message : `exit code ${r.status}`;
  console.error(`diffuse: building the native addon with node-gyp failed (${why}); the compiler output above says why.`);
  process.exit(r.status || 1);
}
