// The issue-11 reference kernel (benches/standalone.rs): Philox4x32-10 with the ten rounds
// written out, 16-bit mulhilo, the uniform map on all four words, one 16-byte store per
// invocation, 64-wide workgroups on a 2-D grid. Not gpuinit's stream (counter = invocation,
// key = 1, no offset, no bounds): a yardstick for what the generation kernels cost beyond
// Philox itself, with `store` as its store-only twin on the same grid.
@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xFFFFu; let a1 = a >> 16u; let b0 = b & 0xFFFFu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0; let p11 = a1 * b1;
  let mid = (p00 >> 16u) + (p01 & 0xFFFFu) + (p10 & 0xFFFFu);
  return vec2<u32>(p11 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u), a * b);
}
fn rnd(c: vec4<u32>, k: vec2<u32>) -> vec4<u32> {
  let p0 = mulhilo(0xD2511F53u, c.x); let p1 = mulhilo(0xCD9E8D57u, c.z);
  return vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
}
const W = vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let inv = gid.x + gid.y * nw.x * 64u;
  var c = vec4<u32>(inv, 0u, 0u, 0u); var k = vec2<u32>(1u, 0u);
  c = rnd(c, k); k += W; c = rnd(c, k); k += W; c = rnd(c, k); k += W; c = rnd(c, k); k += W;
  c = rnd(c, k); k += W; c = rnd(c, k); k += W; c = rnd(c, k); k += W; c = rnd(c, k); k += W;
  c = rnd(c, k); k += W; c = rnd(c, k);
  let s = 1.0 / 16777216.0;
  out[inv] = vec4<f32>(f32(c.x >> 8u) * s, f32(c.y >> 8u) * s, f32(c.z >> 8u) * s, f32(c.w >> 8u) * s);
}
@compute @workgroup_size(64)
fn store(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let inv = gid.x + gid.y * nw.x * 64u;
  out[inv] = vec4<f32>(f32(inv));
}
