/**
 * Single-precision GEMM for the WebAssembly SIMD backend:
 *   C[i][j] (+)= sum_k A[i][k] * B[k][j]          i < M, j < N, k < K
 * with every operand given as a base address (bytes) and two element strides, so one
 * routine serves the transposed products of the backward passes:
 *   A[i][k] = a[i*aRowStride + k*aColStride], B[k][j] = b[k*bRowStride + j*bColStride],
 *   C[i][j] = c[i*cRowStride + j*cColStride].
 *
 * Layout (Goto's scheme, sized for one core's L1/L2):
 *   for each block of NC columns
 *     for each block of KC depths:  pack B[KC][NC] into 8-wide panels  [panel][k][8]
 *       for each 4-row panel of A:  pack A[4][KC] into                 [k][4]
 *         for each 8-wide B panel:  4x8 register tile (8 f32x4 accumulators)
 * Packing pads ragged edges with zeros, so the micro-kernel always runs a full tile;
 * only the final store of an edge tile (or of a strided C) goes through a scalar path.
 * NOTE: 4x8 is the largest tile that does not spill under Node 20's compiler
 * (8 accumulators + 2 B vectors + 1 broadcast A = 11 of the 16 xmm registers).
 */

// Blocking limits: a packed B block is at most KC*NC*4 bytes = 576 KiB (L2); the A and
// B panels of one micro-kernel call (KC*48 bytes = 18 KiB) stay in L1. K and N are split
// into equal blocks under these limits (K = 288 is one block, N = 576 two of 288), since
// a short last block runs the micro-kernel with little work per C load and store.
const KC: i32 = 384;
const NC: i32 = 384;

/** Block size that splits `total` into equal blocks of at most `limit` (rounded up to a multiple of 8). */
// @ts-ignore: decorator
@inline function blockSize(total: i32, limit: i32): i32 {
  const blocks = (total + limit - 1) / limit;
  return min(limit, ((total + blocks - 1) / blocks + 7) & ~7);
}

/** Workspace addresses, set once by `gemmInit` (the TypeScript side owns all memory). */
let packedB: usize = 0;
let packedA: usize = 0;
let tile: usize = 0;

/** Bytes of workspace `gemmInit` needs. */
export function gemmWorkspaceBytes(): i32 {
  return KC * NC * 4 + KC * 4 * 4 + 32 * 4 + 64;
}

export function gemmInit(workspace: usize): void {
  packedB = (workspace + 15) & ~(<usize>15);
  packedA = packedB + <usize>(KC * NC * 4);
  tile = packedA + <usize>(KC * 4 * 4);
}

// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  // Compile-time constant: the relaxed build fuses multiply and add (one rounding, FMA on x64).
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** The 4x8 micro-kernel: C tile (row stride ldcBytes) (+)= packed A panel x packed B panel. */
function microKernel(kc: i32, ap: usize, bp: usize, c: usize, ldcBytes: usize, accumulate: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    ap += 16;
    bp += 32;
  }
  if (accumulate) {
    c00 = f32x4.add(c00, v128.load(c));
    c01 = f32x4.add(c01, v128.load(c, 16));
    c10 = f32x4.add(c10, v128.load(c + ldcBytes));
    c11 = f32x4.add(c11, v128.load(c + ldcBytes, 16));
    c20 = f32x4.add(c20, v128.load(c + 2 * ldcBytes));
    c21 = f32x4.add(c21, v128.load(c + 2 * ldcBytes, 16));
    c30 = f32x4.add(c30, v128.load(c + 3 * ldcBytes));
    c31 = f32x4.add(c31, v128.load(c + 3 * ldcBytes, 16));
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldcBytes, c10);
  v128.store(c + ldcBytes, c11, 16);
  v128.store(c + 2 * ldcBytes, c20);
  v128.store(c + 2 * ldcBytes, c21, 16);
  v128.store(c + 3 * ldcBytes, c30);
  v128.store(c + 3 * ldcBytes, c31, 16);
}

/** Packs B[k][j] (k < kc, j < nc) into 8-wide panels [panel][k][8], zero-padding the last panel. */
function packB(kc: i32, nc: i32, b: usize, rowStride: i32, colStride: i32): void {
  let dst = packedB;
  for (let j0 = 0; j0 < nc; j0 += 8) {
    const nr = min(8, nc - j0);
    const panel = b + (<usize>(j0 * colStride) << 2);
    if (nr == 8 && colStride == 1) {
      // Rows of B are contiguous: two vector copies per depth.
      let src = panel;
      const step = <usize>rowStride << 2;
      for (let k = 0; k < kc; k++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += step;
        dst += 32;
      }
    } else if (nr == 8 && rowStride == 1) {
      // B is a transposed row-major matrix: columns are contiguous; transpose 4x4 blocks.
      const cs = <usize>colStride << 2;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const s = panel + (<usize>k << 2);
        transpose4x4Store(s, cs, dst, 32);
        transpose4x4Store(s + 4 * cs, cs, dst + 16, 32);
        dst += 128;
      }
      for (; k < kc; k++) {
        for (let j = 0; j < 8; j++) store<f32>(dst + (<usize>j << 2), load<f32>(panel + <usize>(j * colStride + k) * 4));
        dst += 32;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        for (let j = 0; j < 8; j++) {
          const value: f32 = j < nr ? load<f32>(panel + (<usize>(k * rowStride + j * colStride) << 2)) : 0;
          store<f32>(dst + (<usize>j << 2), value);
        }
        dst += 32;
      }
    }
  }
}

/** Reads 4 rows of 4 floats (row stride `strideBytes`) and stores their transpose, rows `dstStride` apart. */
// @ts-ignore: decorator
@inline function transpose4x4Store(src: usize, strideBytes: usize, dst: usize, dstStride: usize): void {
  const r0 = v128.load(src);
  const r1 = v128.load(src + strideBytes);
  const r2 = v128.load(src + 2 * strideBytes);
  const r3 = v128.load(src + 3 * strideBytes);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5); // a0 b0 a1 b1
  const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5); // c0 d0 c1 d1
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7); // a2 b2 a3 b3
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7); // c2 d2 c3 d3
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + dstStride, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + 2 * dstStride, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + 3 * dstStride, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

/** Packs A[i][k] (i < mr <= 4, k < kc) into [k][4], zero-padding missing rows. */
function packA(kc: i32, mr: i32, a: usize, rowStride: i32, colStride: i32): void {
  let dst = packedA;
  if (mr == 4 && rowStride == 1) {
    // A is transposed: the 4 rows of one depth are contiguous.
    const step = <usize>colStride << 2;
    for (let k = 0; k < kc; k++) {
      v128.store(dst, v128.load(a));
      a += step;
      dst += 16;
    }
  } else if (mr == 4 && colStride == 1) {
    const rs = <usize>rowStride << 2;
    let k = 0;
    for (; k + 4 <= kc; k += 4) {
      transpose4x4Store(a + (<usize>k << 2), rs, dst, 16);
      dst += 64;
    }
    for (; k < kc; k++) {
      for (let i = 0; i < 4; i++) store<f32>(dst + (<usize>i << 2), load<f32>(a + <usize>(i * rowStride + k) * 4));
      dst += 16;
    }
  } else {
    for (let k = 0; k < kc; k++) {
      for (let i = 0; i < 4; i++) {
        const value: f32 = i < mr ? load<f32>(a + (<usize>(i * rowStride + k * colStride) << 2)) : 0;
        store<f32>(dst + (<usize>i << 2), value);
      }
      dst += 16;
    }
  }
}

/** Adds (or writes) the mr x nr corner of the 4x8 `tile` into a general C. */
function storeEdge(mr: i32, nr: i32, c: usize, rowStride: i32, colStride: i32, accumulate: bool): void {
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) {
      const address = c + (<usize>(i * rowStride + j * colStride) << 2);
      let value = load<f32>(tile + (<usize>(i * 8 + j) << 2));
      if (accumulate) value += load<f32>(address);
      store<f32>(address, value);
    }
  }
}

function gemmOriented(
  m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32,
  b: usize, bRowStride: i32, bColStride: i32,
  c: usize, cRowStride: i32, cColStride: i32,
  accumulate: bool,
): void {
  const ncStep = blockSize(n, NC);
  const kcStep = blockSize(k, KC);
  for (let jc = 0; jc < n; jc += ncStep) {
    const nc = min(ncStep, n - jc);
    for (let pc = 0; pc < k; pc += kcStep) {
      const kc = min(kcStep, k - pc);
      // Later depth blocks add to what the first one wrote.
      const add = accumulate || pc > 0;
      packB(kc, nc, b + (<usize>(pc * bRowStride + jc * bColStride) << 2), bRowStride, bColStride);
      for (let ic = 0; ic < m; ic += 4) {
        const mr = min(4, m - ic);
        packA(kc, mr, a + (<usize>(ic * aRowStride + pc * aColStride) << 2), aRowStride, aColStride);
        for (let jr = 0; jr < nc; jr += 8) {
          const nr = min(8, nc - jr);
          const bp = packedB + (<usize>(jr * kc) << 2);
          const cp = c + (<usize>(ic * cRowStride + (jc + jr) * cColStride) << 2);
          if (mr == 4 && nr == 8 && cColStride == 1) {
            microKernel(kc, packedA, bp, cp, <usize>cRowStride << 2, add);
          } else {
            microKernel(kc, packedA, bp, tile, 32, false);
            storeEdge(mr, nr, cp, cRowStride, cColStride, add);
          }
        }
      }
    }
  }
}

/**
 * C (+)= A B. Runs C^T = B^T A^T instead when that wastes fewer padded lanes
 * (e.g. N = 10 or N = 9 against M = 32), so narrow outputs still fill the 4x8 tile.
 */
export function gemm(
  m: i32, n: i32, k: i32,
  a: usize, aRowStride: i32, aColStride: i32,
  b: usize, bRowStride: i32, bColStride: i32,
  c: usize, cRowStride: i32, cColStride: i32,
  accumulate: bool,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    if (!accumulate) {
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) store<f32>(c + (<usize>(i * cRowStride + j * cColStride) << 2), 0);
    }
    return;
  }
  const direct = ((m + 3) >> 2) * ((n + 7) >> 3) * 32;
  const transposed = ((n + 3) >> 2) * ((m + 7) >> 3) * 32;
  // NOTE: the transposed run stores C through the scalar strided path (its C column stride
  // is not 1), so it must save a quarter of the padded lanes to pay off (conv1, M=32 N=676,
  // saves under 1% and stays direct; dense2, N=10, saves 25% and is transposed).
  if (transposed * 4 <= direct * 3) {
    gemmOriented(n, m, k, b, bColStride, bRowStride, a, aColStride, aRowStride, c, cColStride, cRowStride, accumulate);
  } else {
    gemmOriented(m, n, k, a, aRowStride, aColStride, b, bRowStride, bColStride, c, cRowStride, cColStride, accumulate);
  }
}
