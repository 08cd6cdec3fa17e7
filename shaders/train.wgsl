// The training steps that are not products (`gpuinit train`): the loss and its gradient at
// the output, the bias gradients and the SGD update. The products (forward, dX = delta W,
// dW = delta^T X) are matmul.wgsl's. CPU twin: src/cpu/train.rs.
//
// Same operand bindings as the matmul family, seen as scalars, plus binding 6 as the
// per-row record the loss kernel writes (the matmul kernels' partials).

#import operands

@group(0) @binding(6) var<storage, read_write> rows: array<f32>;

// One invocation per row of the logits A ([m, n], row stride ldc), labels in aux (u32 bits):
// C = (softmax - one-hot) / m, the gradient of the mean cross-entropy (row stride ldc,
// padding zero); rows[2r] = row r's loss, rows[2r + 1] = 1 if the first largest logit is
// not the label.
@compute @workgroup_size(TRAIN_WG)
fn softmax_xent(@builtin(global_invocation_id) gid: vec3<u32>) {
    let r = gid.x;
    if r >= p.m {
        return;
    }
    let row = r * p.ldc;
    let label = bitcast<u32>(aux[r]);
    var top = a[row];
    var best = 0u;
    for (var k = 1u; k < p.n; k++) {
        if a[row + k] > top {
            top = a[row + k];
            best = k;
        }
    }
    var s = 0.0;
    for (var k = 0u; k < p.n; k++) {
        s += exp(a[row + k] - top);
    }
    let inv = 1.0 / (s * f32(p.m));
    for (var k = 0u; k < p.ldc; k++) {
        var d = 0.0;
        if k < p.n {
            d = exp(a[row + k] - top) * inv - select(0.0, 1.0 / f32(p.m), k == label);
        }
        c[row + k] = d;
    }
    rows[2u * r] = log(s) - (a[row + label] - top);
    rows[2u * r + 1u] = select(0.0, 1.0, best != label);
}

// One invocation per column: C[j] = sum over the m rows of A[r, j] (row stride lda), the
// bias gradient from delta; columns n .. ldc stay zero.
@compute @workgroup_size(TRAIN_WG)
fn bias_grad(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if j >= p.lda {
        return;
    }
    var s = 0.0;
    if j < p.n {
        for (var r = 0u; r < p.m; r++) {
            s += a[r * p.lda + j];
        }
    }
    c[j] = s;
}

// C -= lr * A over the m x ldc floats of a weight or bias and its gradient, padding
// included (zero in both, so it stays zero): the SGD step at learning rate lr. Each
// invocation takes 4 floats at a time, striding over the grid: a software adapter pays for
// every workgroup, so the host dispatches few.
@compute @workgroup_size(TRAIN_WG)
fn sgd(@builtin(global_invocation_id) gid: vec3<u32>,
       @builtin(num_workgroups) groups: vec3<u32>) {
    let total = p.m * p.ldc;
    let stride = groups.x * TRAIN_WG * SGD_VEC;
    // The body is written out for SGD_VEC = 4 floats (build.rs checks the value).
    for (var i = gid.x * SGD_VEC; i < total; i += stride) {
        c[i] -= p.lr * a[i];
        c[i + 1u] -= p.lr * a[i + 1u];
        c[i + 2u] -= p.lr * a[i + 2u];
        c[i + 3u] -= p.lr * a[i + 3u];
    }
}
