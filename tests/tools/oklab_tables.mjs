// node oklab_tables.mjs > pdiff/oklab_tables.bin
// The two lookup tables of pixelmatch main's OKLab metric (tests/tools/pixelmatch-main/index.js),
// computed by V8 exactly as pixelmatch computes them: LIN (sRGB byte -> linear, 257 entries)
// then CBRT (cube root of i/4096, 4098 entries), little-endian float64. Python's pow and
// numpy's cbrt differ from V8's in the last bit for a few hundred entries, and pdiff/core.py
// must give pixelmatch's counts exactly, so it reads these values instead of recomputing them.
const LIN = new Float64Array(257);
for (let i = 0; i < 256; i++) {
    const c = i / 255;
    LIN[i] = c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
}
LIN[256] = LIN[255];
const CBRT = new Float64Array(4096 + 2);
for (let i = 0; i <= 4096 + 1; i++) CBRT[i] = Math.cbrt(i / 4096);
process.stdout.write(Buffer.from(LIN.buffer));
process.stdout.write(Buffer.from(CBRT.buffer));
