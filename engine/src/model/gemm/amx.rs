//! The AMX-BF16 kernel of [`super`] (Intel Sapphire Rapids and later): a `32 × 32` block of the
//! output in four tile registers, `tdpbf16ps` on bf16 activations and the bf16 panels as they are
//! packed for `vdpbf16ps`.
//!
//! AMX holds eight tile registers of up to 16 rows × 64 bytes. `tdpbf16ps C, A, B` adds, for
//! each of C's 16 × 16 f32 values, the dot product of an A row (16 bf16 pairs: 32 values of `k`)
//! with a B column of 16 pairs, B stored pair-interleaved (`B[r][j] = (w[2r][j], w[2r+1][j])`).
//! A panel row pair of [`super::Panels`] is exactly that: 32 columns × 2 bf16 = 128 bytes, so
//! the two B tiles of a step are the panel's rows `16s .. 16s + 16` read with a 128-byte stride,
//! at offsets 0 and 64. The A tiles are 16 activation rows of the `pairs_of` scratch with the
//! row stride. One step (32 values of `k`) is four tile loads and four `tdpbf16ps`, 32 768
//! multiply-adds: 16 times what one `vdpbf16ps` does.
//!
//! Rust's AMX intrinsics are not stable, so the kernel is inline assembly (the tile registers
//! are never touched by compiled code), and [`supported`] reads CPUID itself and asks Linux for
//! the tile-data permission (`ARCH_REQ_XCOMP_PERM`) that every process must request once.
//! Products of two bf16 are exact in f32 and sums are f32, so the result is the function every
//! bf16 path computes, up to the order of the additions.
#![allow(unsafe_code)]

use std::arch::asm;
use std::cell::Cell;
use std::sync::OnceLock;

use half::bf16;

use super::NR;

/// Output rows per kernel call (two 16-row tiles).
pub(super) const BLOCK_ROWS: usize = 32;
/// Rows of one tile.
const TILE_ROWS: usize = 16;
/// `k` values per step: one tile row of 64 bytes holds 16 bf16 pairs.
pub(super) const K_STEP: usize = 32;

/// One block of the output, `BLOCK_ROWS × NR`.
pub(super) type Block = [[f32; NR]; BLOCK_ROWS];

/// Whether this CPU has AMX-TILE and AMX-BF16 and the kernel lets this process use tile data.
/// The permission request runs once per process; later calls read the cached answer.
pub(super) fn supported() -> bool {
    static OK: OnceLock<bool> = OnceLock::new();
    *OK.get_or_init(|| has_amx_bf16() && request_tile_permission())
}

/// CPUID leaf 7, sub-leaf 0: EDX bit 22 is AMX-BF16, bit 24 AMX-TILE.
fn has_amx_bf16() -> bool {
    if std::arch::x86_64::__get_cpuid_max(0).0 < 7 {
        return false;
    }
    let edx = std::arch::x86_64::__cpuid_count(7, 0).edx;
    edx & (1 << 22) != 0 && edx & (1 << 24) != 0
}

/// Linux ≥ 5.16 keeps AMX tile data off until a process asks for it; without the permission the
/// first tile instruction faults. Any other OS: no AMX.
fn request_tile_permission() -> bool {
    #[cfg(target_os = "linux")]
    {
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: arch_prctl with ARCH_REQ_XCOMP_PERM takes two integers and touches no memory
        // of ours; it fails with an error code on kernels or CPUs without AMX.
        let r = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        r == 0
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

/// The tile configuration (palette 1): all eight tiles 16 rows × 64 bytes. Tiles 0–3 accumulate
/// C, 4–5 hold A (rows 0–15 and 16–31), 6–7 hold B (columns 0–15 and 16–31).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    colsb: [u16; 16],
    rows: [u8; 16],
}

const CONFIG: TileConfig = {
    let mut colsb = [0u16; 16];
    let mut rows = [0u8; 16];
    let mut t = 0;
    while t < 8 {
        colsb[t] = 64;
        rows[t] = TILE_ROWS as u8;
        t += 1;
    }
    TileConfig {
        palette: 1,
        start_row: 0,
        reserved: [0; 14],
        colsb,
        rows,
    }
};

thread_local! {
    /// Whether this thread has loaded [`CONFIG`] (the tile configuration is per thread and only
    /// this module configures tiles).
    static CONFIGURED: Cell<bool> = const { Cell::new(false) };
}

fn configure_thread() {
    if !CONFIGURED.get() {
        // SAFETY: `supported()` was checked by the caller (AMX present, permission granted);
        // `CONFIG` is a valid 64-byte palette-1 configuration, aligned as ldtilecfg requires.
        unsafe { asm!("ldtilecfg [{}]", in(reg) &CONFIG, options(nostack, readonly)) };
        CONFIGURED.set(true);
    }
}

/// `out[i][j] = Σ_p dot(x[i·half + p], panel pair (p, j))` for `i < rows`, `rows` being `mr`
/// (1..=32) rounded up to whole tiles (16 or 32): `x` holds `rows` rows of `half` bf16 pairs
/// (see `super::pairs_of`; rows past `mr` zeros or anything) and `half` is a multiple of 16
/// (the panels' `k` is padded to [`K_STEP`]). Rows of `out` past `rows` are left as they are.
/// Only called when [`supported`] said yes.
pub(super) fn block(x: &[u32], mr: usize, half: usize, panel: &[bf16], out: &mut Block) {
    assert!((1..=BLOCK_ROWS).contains(&mr), "AMX block of {mr} rows");
    let rows = if mr > TILE_ROWS {
        BLOCK_ROWS
    } else {
        TILE_ROWS
    };
    assert!(
        half > 0 && half.is_multiple_of(K_STEP / 2),
        "k pairs {half} not padded"
    );
    assert!(x.len() >= rows * half && panel.len() >= half * 2 * NR);
    configure_thread();
    let steps = half / (K_STEP / 2);
    let a = x.as_ptr();
    let a_stride = half * 4;
    let b = panel.as_ptr();
    let b_stride = 2 * NR * 2; // one pair row of the panel: NR columns × 2 bf16
    let c = out.as_mut_ptr();
    let c_stride = NR * 4;
    // SAFETY: AMX is supported and this thread's tiles are configured (above). Each step reads
    // A rows `0..rows` at `a + i·a_stride + 64s .. + 64` (inside `x`, as `64s + 64 ≤ a_stride`
    // and `x.len() ≥ rows·half`), and B rows `16s .. 16s + 16` of the panel at 128-byte stride
    // plus 0 or 64 (inside `panel`, `steps·16·128 = half·2·NR·2` bytes); the stores write
    // `rows` rows of 128 bytes into `out` (`rows ≤ BLOCK_ROWS`). Tile registers are not used
    // by compiled code.
    unsafe {
        if rows == BLOCK_ROWS {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "tilezero tmm2",
                "tilezero tmm3",
                "2:",
                "tileloadd tmm4, [{a} + {sa}*1]",
                "tileloadd tmm5, [{a2} + {sa}*1]",
                "tileloadd tmm6, [{b} + {sb}*1]",
                "tileloadd tmm7, [{b} + {sb}*1 + 64]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "tdpbf16ps tmm2, tmm5, tmm6",
                "tdpbf16ps tmm3, tmm5, tmm7",
                "add {a}, 64",
                "add {a2}, 64",
                "add {b}, 2048",
                "dec {n}",
                "jnz 2b",
                "tilestored [{c} + {sc}*1], tmm0",
                "tilestored [{c} + {sc}*1 + 64], tmm1",
                "tilestored [{c2} + {sc}*1], tmm2",
                "tilestored [{c2} + {sc}*1 + 64], tmm3",
                a = inout(reg) a => _,
                a2 = inout(reg) a.add(TILE_ROWS * half) => _,
                b = inout(reg) b => _,
                n = inout(reg) steps => _,
                sa = in(reg) a_stride,
                sb = in(reg) b_stride,
                c = in(reg) c,
                c2 = in(reg) c.add(TILE_ROWS),
                sc = in(reg) c_stride,
                options(nostack),
            );
        } else {
            asm!(
                "tilezero tmm0",
                "tilezero tmm1",
                "2:",
                "tileloadd tmm4, [{a} + {sa}*1]",
                "tileloadd tmm6, [{b} + {sb}*1]",
                "tileloadd tmm7, [{b} + {sb}*1 + 64]",
                "tdpbf16ps tmm0, tmm4, tmm6",
                "tdpbf16ps tmm1, tmm4, tmm7",
                "add {a}, 64",
                "add {b}, 2048",
                "dec {n}",
                "jnz 2b",
                "tilestored [{c} + {sc}*1], tmm0",
                "tilestored [{c} + {sc}*1 + 64], tmm1",
                a = inout(reg) a => _,
                b = inout(reg) b => _,
                n = inout(reg) steps => _,
                sa = in(reg) a_stride,
                sb = in(reg) b_stride,
                c = in(reg) c,
                sc = in(reg) c_stride,
                options(nostack),
            );
        }
    }
}
