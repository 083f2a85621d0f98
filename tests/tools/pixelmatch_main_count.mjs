// node pixelmatch_main_count.mjs BEFORE.png AFTER.png [threshold] [includeAA] -> {"changed": N}
// pixelmatch's main branch (OKLab HyAB metric, tests/tools/pixelmatch-main, unreleased): the
// reference for pdiff/core.py's metric="oklab".
import fs from 'fs';
import { PNG } from 'pngjs';
import pixelmatch from './pixelmatch-main/index.js';

const [before, after, threshold, includeAA] = process.argv.slice(2);
const a = PNG.sync.read(fs.readFileSync(before));
const b = PNG.sync.read(fs.readFileSync(after));
const changed = pixelmatch(a.data, b.data, null, a.width, a.height, {
    threshold: threshold === undefined ? 0.1 : Number(threshold),
    includeAA: includeAA === 'true',
});
console.log(JSON.stringify({ changed }));
