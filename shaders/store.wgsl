// The bandwidth baseline for `gpuinit bench`: writes the same bytes as generate4, with the
// same 16-byte store per invocation and the same dispatch shape, but computes nothing.
// Its CPU twin is a plain fill.

#import abi

override WORKGROUP_SIZE: u32 = 64u;

@group(0) @binding(0) var<uniform> store_params: StoreParams;
@group(0) @binding(1) var<storage, read_write> dst: array<vec4<u32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn store(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * store_params.row_stride;
    if (i < store_params.count4) {
        // Depends on the index so the compiler cannot hoist or merge the stores.
        dst[i] = vec4<u32>(store_params.value ^ i);
    }
}
