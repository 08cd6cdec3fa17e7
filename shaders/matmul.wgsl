// Tiled matrix multiply with fused epilogues: the forward and backward passes of a deep
// fully-connected network. CPU twin: the functions of the same names in src/cpu/matmul.rs.
//
// C[M, N] = op(A) op(B), f32, with every matrix row-major at a row stride (lda, ldb, ldc, in
// floats) that is a multiple of 4 and zero past its last column, so that every global load
// and store is an aligned vec4. Two pipeline-overridable constants pick the operand layouts:
//   TRANS_A = false: A is [M, K] (K contiguous);  true: A is stored [K, M] (M contiguous).
//   TRANS_B = true:  B is [N, K] (K contiguous, a torch Linear weight [out, in]);
//             false: B is stored [K, N] (N contiguous).
// and EPILOGUE what happens to the product:
//   0 (forward)        C = act(A B^T + bias)                          X_l from X_{l-1}, W_l
//   1 (backward)       C = (A B) * act'(aux)                          delta_{l-1} from delta_l, W_l, X_{l-1}
//   2 (weight grad)    no C; one Partial of the tile's values each     dW_l = delta_l^T X_{l-1}
//                      workgroup, so dW is never stored
//   3 (stored product) C = A B, nothing else                           dW_l for training
//
// Each 8 x 8 workgroup computes a BM x BN = 64 x 64 tile of C, each invocation an 8 x 8
// block held in registers (four mat4x4: row blocks ty and ty + 8, column blocks tx and
// tx + 8), stepping through K in slices of BK = 16 staged in workgroup memory (10 KiB).
// Per 4-wide step in K an invocation reads 8 vec4 of staged A and B for 256 multiply-adds.
// Any M, N, K: loads past an edge read zero, stores past an edge are skipped, and columns
// past N inside a stored vec4 are written as zero.
//
// Tuning on lavapipe (2 cores, AVX2): 16 x 16 invocations of 4 x 4 ran at 2.6 GFLOP/s,
// 8 x 8 of 8 x 8 at 4.7 (fewer invocations to switch between at each barrier and half the
// staged reads per multiply-add); BK = 32 (16 KiB, no pad) was no better within the noise.

override TRANS_A: bool = false;
override TRANS_B: bool = true;
override EPILOGUE: u32 = 0u;

const BM: u32 = MATMUL_TILE;
const BN: u32 = MATMUL_TILE;
const BK: u32 = 16u;
// vec4 per tile row along K, and the padded row of the [row][k] staging layout (the pad
// spreads a column read over the banks of workgroup memory).
const KV: u32 = BK / 4u;
const KROW: u32 = KV + 1u;
// Staging size in vec4: max(BM * KROW, BK * BM / 4) = 320; also holds the workgroup's
// packed Partials (two vec4 each, one in As and one in Bs) for EPILOGUE 2.
const TILE_VEC4: u32 = 320u;
// Invocations: an 8 x 8 workgroup, each computing an 8 x 8 block of the tile as four 4 x 4
// blocks; each stages LOADS vec4 of A and of B per K slice.
const WG_SIDE: u32 = 8u;
const WG_SIZE: u32 = 64u;
const LOADS: u32 = BM * BK / 4u / WG_SIZE;

#import activation
#import reduce

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> aux: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> c: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> partials: array<Partial>;

var<workgroup> As: array<vec4<f32>, TILE_VEC4>;
var<workgroup> Bs: array<vec4<f32>, TILE_VEC4>;

// Stages A's [m0, m0 + BM) x [k0, k0 + BK) slice: one vec4 per invocation.
fn load_a(t: u32, m0: u32, k0: u32) {
    if TRANS_A {
        let kr = t / (BM / 4u);
        let mq = t % (BM / 4u);
        let gk = k0 + kr;
        let gm = m0 + mq * 4u;
        var v = vec4<f32>(0.0);
        if gk < p.k && gm < p.m {
            v = a[(gk * p.lda + gm) / 4u];
        }
        As[kr * (BM / 4u) + mq] = v;
    } else {
        let row = t / KV;
        let kq = t % KV;
        let gm = m0 + row;
        let gk = k0 + kq * 4u;
        var v = vec4<f32>(0.0);
        if gm < p.m && gk < p.k {
            v = a[(gm * p.lda + gk) / 4u];
        }
        As[row * KROW + kq] = v;
    }
}

// Stages B's [n0, n0 + BN) x [k0, k0 + BK) slice: one vec4 per invocation.
fn load_b(t: u32, n0: u32, k0: u32) {
    if TRANS_B {
        let row = t / KV;
        let kq = t % KV;
        let gn = n0 + row;
        let gk = k0 + kq * 4u;
        var v = vec4<f32>(0.0);
        if gn < p.n && gk < p.k {
            v = b[(gn * p.ldb + gk) / 4u];
        }
        Bs[row * KROW + kq] = v;
    } else {
        let kr = t / (BN / 4u);
        let nq = t % (BN / 4u);
        let gk = k0 + kr;
        let gn = n0 + nq * 4u;
        var v = vec4<f32>(0.0);
        if gk < p.k && gn < p.n {
            v = b[(gk * p.ldb + gn) / 4u];
        }
        Bs[kr * (BN / 4u) + nq] = v;
    }
}

// Column i: A at row ty * 4 + i, over k = 4 kv .. 4 kv + 3.
fn a_block(ty: u32, kv: u32) -> mat4x4<f32> {
    if TRANS_A {
        let s = BM / 4u;
        let base = kv * 4u * s + ty;
        // Columns here run over k; the transpose makes them run over rows.
        return transpose(mat4x4<f32>(As[base], As[base + s], As[base + 2u * s], As[base + 3u * s]));
    }
    let base = ty * 4u * KROW + kv;
    return mat4x4<f32>(As[base], As[base + KROW], As[base + 2u * KROW], As[base + 3u * KROW]);
}

// Column j: B at k = 4 kv + j, over columns tx * 4 .. tx * 4 + 3.
fn b_block(tx: u32, kv: u32) -> mat4x4<f32> {
    if TRANS_B {
        let base = tx * 4u * KROW + kv;
        return transpose(mat4x4<f32>(Bs[base], Bs[base + KROW], Bs[base + 2u * KROW], Bs[base + 3u * KROW]));
    }
    let s = BN / 4u;
    let base = kv * 4u * s + tx;
    return mat4x4<f32>(Bs[base], Bs[base + s], Bs[base + 2u * s], Bs[base + 3u * s]);
}

fn activate4(z: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(activate(p.act, p.slope, z.x), activate(p.act, p.slope, z.y),
                     activate(p.act, p.slope, z.z), activate(p.act, p.slope, z.w));
}

fn activate_grad4(y: vec4<f32>) -> vec4<f32> {
    return vec4<f32>(activate_grad(p.act, p.slope, y.x), activate_grad(p.act, p.slope, y.y),
                     activate_grad(p.act, p.slope, y.z), activate_grad(p.act, p.slope, y.w));
}

// Zero for the components at columns col + j >= n (padding stays zero).
fn mask_cols(v: vec4<f32>, col: u32, n: u32) -> vec4<f32> {
    let cols = vec4<u32>(col) + vec4<u32>(0u, 1u, 2u, 3u);
    return select(vec4<f32>(0.0), v, cols < vec4<u32>(n));
}

fn pack_lo(q: Partial) -> vec4<f32> {
    return vec4<f32>(bitcast<f32>(q.n), bitcast<f32>(q.sat), bitcast<f32>(q.nonfinite), q.mean);
}

fn pack_hi(q: Partial) -> vec4<f32> {
    return vec4<f32>(q.scale, q.ssq, q.lo, q.hi);
}

fn unpack(lo: vec4<f32>, hi: vec4<f32>) -> Partial {
    return Partial(bitcast<u32>(lo.x), bitcast<u32>(lo.y), bitcast<u32>(lo.z), lo.w, hi.x, hi.y, hi.z, hi.w);
}

// Zero for rows past m, then the epilogue of one 4 x 4 block at (row block rb, col block cb).
fn epilogue_block(acc: mat4x4<f32>, m0: u32, n0: u32, rb: u32, cb: u32) {
    let col = n0 + cb * 4u;
    for (var i = 0u; i < 4u; i++) {
        let row = m0 + rb * 4u + i;
        if row < p.m && col < p.n {
            let at = (row * p.ldc + col) / 4u;
            var y: vec4<f32>;
            if EPILOGUE == 0u {
                y = activate4(acc[i] + bias[col / 4u]);
            } else if EPILOGUE == 3u {
                y = acc[i];
            } else {
                y = acc[i] * activate_grad4(aux[at]);
            }
            c[at] = mask_cols(y, col, p.n);
        }
    }
}

fn push_block(r: ptr<function, Partial>, acc: mat4x4<f32>, m0: u32, n0: u32, rb: u32, cb: u32) {
    let col = n0 + cb * 4u;
    for (var i = 0u; i < 4u; i++) {
        let row = m0 + rb * 4u + i;
        if row < p.m {
            let v = acc[i];
            for (var j = 0u; j < 4u; j++) {
                if col + j < p.n {
                    partial_push(r, v[j], false);
                }
            }
        }
    }
}

@compute @workgroup_size(8, 8)
fn matmul(@builtin(local_invocation_id) lid: vec3<u32>,
          @builtin(workgroup_id) wid: vec3<u32>,
          @builtin(num_workgroups) groups: vec3<u32>) {
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * WG_SIDE + tx;
    let m0 = wid.y * BM;
    let n0 = wid.x * BN;
    // This invocation's 8 x 8 block of C: row blocks ty and ty + 8, column blocks tx and
    // tx + 8 (4 x 4 each); accRC[i] holds the 4 columns of row i of block (R, C).
    let r1 = ty + WG_SIDE;
    let c1 = tx + WG_SIDE;
    var acc00 = mat4x4<f32>();
    var acc01 = mat4x4<f32>();
    var acc10 = mat4x4<f32>();
    var acc11 = mat4x4<f32>();
    // Row blocks wholly past m (a small batch in a 64-row tile) skip their multiply-adds;
    // the 8 invocations of one ty share the branch, so a SIMD CPU backend skips it too.
    let live0 = m0 + ty * 4u < p.m;
    let live1 = m0 + r1 * 4u < p.m;
    for (var k0 = 0u; k0 < p.k; k0 += BK) {
        for (var j = 0u; j < LOADS; j++) {
            load_a(t + j * WG_SIZE, m0, k0);
            load_b(t + j * WG_SIZE, n0, k0);
        }
        workgroupBarrier();
        for (var kv = 0u; kv < KV; kv++) {
            let b0 = b_block(tx, kv);
            let b1 = b_block(c1, kv);
            if live0 {
                let a0 = a_block(ty, kv);
                acc00 += b0 * a0;
                acc01 += b1 * a0;
            }
            if live1 {
                let a1 = a_block(r1, kv);
                acc10 += b0 * a1;
                acc11 += b1 * a1;
            }
        }
        workgroupBarrier();
    }

    if EPILOGUE == 2u {
        var q = partial_empty();
        push_block(&q, acc00, m0, n0, ty, tx);
        push_block(&q, acc01, m0, n0, ty, c1);
        push_block(&q, acc10, m0, n0, r1, tx);
        push_block(&q, acc11, m0, n0, r1, c1);
        As[t] = pack_lo(q);
        Bs[t] = pack_hi(q);
        workgroupBarrier();
        for (var s = WG_SIZE / 2u; s > 0u; s = s / 2u) {
            if t < s {
                let merged = partial_merge(unpack(As[t], Bs[t]), unpack(As[t + s], Bs[t + s]));
                As[t] = pack_lo(merged);
                Bs[t] = pack_hi(merged);
            }
            workgroupBarrier();
        }
        if t == 0u {
            partials[wid.y * groups.x + wid.x] = unpack(As[0], Bs[0]);
        }
        return;
    }
    epilogue_block(acc00, m0, n0, ty, tx);
    epilogue_block(acc01, m0, n0, ty, c1);
    epilogue_block(acc10, m0, n0, r1, tx);
    epilogue_block(acc11, m0, n0, r1, c1);
}

// Copies a contiguous [m, n] matrix (A, read as scalars) into C with row stride ldc,
// zeroing the padding: weights and inputs whose width is not a multiple of 4 are generated
// contiguously, then laid out for the vec4 loads above. One vec4 of C per invocation.
@compute @workgroup_size(SIDE, SIDE)
fn pad_rows(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.y;
    let q = gid.x;
    if row >= p.m || q * 4u >= p.ldc {
        return;
    }
    var v = vec4<f32>(0.0);
    for (var j = 0u; j < 4u; j++) {
        let col = q * 4u + j;
        if col < p.n {
            let i = row * p.n + col;
            v[j] = a[i / 4u][i % 4u];
        }
    }
    c[(row * p.ldc) / 4u + q] = v;
}
