// The backward pass's elementwise step: delta = g * act'(y), the gradient with respect to a
// layer's pre-activations from the gradient with respect to its outputs y. CPU twin:
// `delta_top` in src/cpu/backward.rs.
//
// It starts the backward pass at the top layer, where g is the seeded standard-normal
// gradient generated contiguously ([rows, cols], row stride cols); below the top, the same
// product is fused into the epilogue of the backward matmul (EPILOGUE 1 in matmul.wgsl),
// which also multiplies by the transposed weight. The weight gradients' statistics come
// from EPILOGUE 2 there, reduced per workgroup without storing dW.
//
// Operands: A = g (contiguous), aux = y and C = delta (row stride ldc).

#import activation
#import operands

@compute @workgroup_size(SIDE, SIDE)
fn delta_top(@builtin(global_invocation_id) gid: vec3<u32>) {
    let col = gid.x;
    let row = gid.y;
    if row >= p.m || col >= p.n {
        return;
    }
    let at = row * p.ldc + col;
    c[at] = a[row * p.n + col] * activate_grad(p.act, p.slope, aux[at]);
}
