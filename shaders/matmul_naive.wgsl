// The baseline the tiled kernel is measured against (benches/matmul.rs): one invocation per
// output, scalar loads straight from global memory, no tiling, no workgroup memory.
// Same bindings, layouts and forward epilogue as `matmul` in matmul.wgsl with TRANS_A =
// false, TRANS_B = true, EPILOGUE = 0: C = act(A B^T + bias).

#import activation
#import operands

@compute @workgroup_size(SIDE, SIDE)
fn matmul_naive(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let row = gid.y;
    if row >= p.m || col >= p.n {
        return;
    }
    var s = 0.0;
    for (var k = 0u; k < p.k; k++) {
        s += a[row * p.lda + k] * b[col * p.ldb + k];
    }
    c[row * p.ldc + col] = activate(p.act, p.slope, s + bias[col]);
}
