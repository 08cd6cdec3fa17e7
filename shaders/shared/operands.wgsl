// The matmul family's operand bindings seen as scalars (the tiled kernel in matmul.wgsl sees
// them as vec4s): parameters, then A, B, bias, aux and C. Host side: `Operands` in
// src/gpu/matmul.rs.

#import abi

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> aux: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;
