//! The heap held by what the current thread allocated: the tests share one process, so its
//! resident size moves with whatever the other tests do at the same time, while a test on a
//! current-thread runtime does all its work, and makes all its allocations, on its own thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting per thread the bytes allocated less the bytes freed.
pub struct Counting;

thread_local! {
    // A const-initialised `Cell` of a plain integer: no destructor, no allocation, so it can be
    // used from inside the allocator.
    static LIVE: Cell<i64> = const { Cell::new(0) };
}

fn count(delta: i64) {
    let _ = LIVE.try_with(|live| live.set(live.get() + delta));
}

/// Bytes allocated on this thread less bytes freed on it, since it started: its difference over
/// a stretch of work is what that work kept (a block freed on another thread counts there).
pub fn thread_heap_bytes() -> i64 {
    LIVE.with(Cell::get)
}

// SAFETY: every call is passed on to `System` unchanged; the counting touches no allocation.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let block = unsafe { System.alloc(layout) };
        if !block.is_null() {
            count(layout.size() as i64);
        }
        block
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let block = unsafe { System.alloc_zeroed(layout) };
        if !block.is_null() {
            count(layout.size() as i64);
        }
        block
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe { System.dealloc(block, layout) };
        count(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(block, layout, new_size) };
        if !moved.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        moved
    }
}
