//! The binary's global allocator: mimalloc (`libmimalloc-sys`, its C source built into the
//! binary), for Rust's allocations and, through mlua's `lua_Alloc`, which allocates with
//! Rust's allocator, for the Lua heap. glibc's `malloc` took 150 to 400 instructions a call
//! in the constructor's and the collector's loops (its thread cache runs dry as the heap
//! grows, and each large request consolidates the fast bins); mimalloc's free lists per
//! size class take a few dozen. Hosts that link the library keep their own allocator.
//!
//! mlua asks for 16-byte alignment on every Lua block, and mimalloc's aligned calls take a
//! slow path (over-allocating, in another size class) whenever the free block at hand is
//! not aligned. Every block of a mimalloc size class that is a multiple of 16 bytes is
//! aligned to 16 (a page's first block is, and every class of more than 8 bytes is a
//! multiple of 16), so a request for up to 16-byte alignment asks for its size rounded up
//! to a multiple of 16 with the plain calls; a block that still is not aligned (which
//! mimalloc does not promise) is given back and taken again with the aligned call.
//!
//! Memory: by default mimalloc commits its arenas up front on Linux and gives freed pages
//! back a second later, so the memory a script frees (W2's untimed seeding) was still
//! resident when the next phase peaked: W2's peak RSS went from 55 to 77 MB at 100,000 rows.
//! `configure` (run before `main`) has it commit arena memory as it is used and purge freed
//! pages after 10 ms, which brought the peak back to 54 MB without costing instructions
//! in the workloads.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// Every block mimalloc hands out is aligned to a machine word; those of a size class that
/// is a multiple of `CLASS_ALIGN` to that too.
const WORD: usize = std::mem::size_of::<usize>();
const CLASS_ALIGN: usize = 16;

pub struct Mi;

// `mi_option_t` values of the bundled mimalloc (v3's `mimalloc.h`; the crate's version is
// pinned in Cargo.toml, since these numbers are not part of its Rust API without the
// `extended` feature)
const MI_OPTION_ARENA_EAGER_COMMIT: std::ffi::c_int = 4;
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// mimalloc's options, set before the first allocation (an entry of `.init_array`, which
/// the C runtime calls before Rust's runtime starts).
extern "C" fn configure() {
    unsafe {
        mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        mi_option_set(MI_OPTION_PURGE_DELAY, 10);
    }
}

#[used]
#[cfg_attr(target_os = "linux", link_section = ".init_array")]
static CONFIGURE: extern "C" fn() = configure;

/// `size`, rounded up to a multiple of `align`.
#[inline(always)]
fn padded(size: usize, align: usize) -> usize {
    (size + align - 1) & !(align - 1)
}

#[inline(always)]
fn misaligned(p: *mut c_void, align: usize) -> bool {
    p as usize & (align - 1) != 0
}

/// A block for `layout` from `plain` (mimalloc's word-aligned call) or, for a larger
/// alignment, `aligned`: up to `CLASS_ALIGN`, the size rounded up to a multiple of the
/// alignment with the plain call first (see the module's comment).
#[inline(always)]
unsafe fn allocate(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    let (size, align) = (layout.size(), layout.align());
    if align <= WORD {
        return plain(size) as *mut u8;
    }
    if align <= CLASS_ALIGN {
        let p = plain(padded(size, align));
        if !misaligned(p, align) {
            return p as *mut u8;
        }
        mi::mi_free(p);
    }
    aligned(size, align) as *mut u8
}

unsafe impl GlobalAlloc for Mi {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocate(layout, mi::mi_malloc, mi::mi_malloc_aligned)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocate(layout, mi::mi_zalloc, mi::mi_zalloc_aligned)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr as *mut c_void);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        if align <= WORD {
            return mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8;
        }
        if align <= CLASS_ALIGN {
            let p = mi::mi_realloc(ptr as *mut c_void, padded(new_size, align));
            if p.is_null() || !misaligned(p, align) {
                return p as *mut u8;
            }
            // moved to a block that is not aligned: move it again
            let q = mi::mi_malloc_aligned(new_size, align);
            if !q.is_null() {
                std::ptr::copy_nonoverlapping(p as *const u8, q as *mut u8, new_size);
            }
            mi::mi_free(p);
            return q as *mut u8;
        }
        mi::mi_realloc_aligned(ptr as *mut c_void, new_size, align) as *mut u8
    }
}
