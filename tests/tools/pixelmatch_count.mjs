// node pixelmatch_count.mjs BEFORE.png AFTER.png [threshold] -> {"changed": N, "ms": T}
// Same-size images only (pixelmatch's own rule); used as the reference for pdiff/core.py.
import fs from 'fs';
import { PNG } from 'pngjs';
import pixelmatch from 'pixelmatch';

const [before, after, threshold] = process.argv.slice(2);
const a = PNG.sync.read(fs.readFileSync(before));
const b = PNG.sync.read(fs.readFileSync(after));
const started = performance.now();
const changed = pixelmatch(a.data, b.data, null, a.width, a.height,
                           { threshold: threshold === undefined ? 0.1 : Number(threshold) });
console.log(JSON.stringify({ changed, ms: performance.now() - started }));
