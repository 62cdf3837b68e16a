//! Overlapped bookkeeping: what an overlapped call that did not complete
//! at once (or that has a completion routine) was, kept by its OVERLAPPED
//! address until its completion is seen, so that the completion record
//! can name the operation, count the bytes and show the payload from the
//! buffers the call was given (the WSABUF array itself may be gone by
//! then; the buffers may not).
//!
//! A fixed table with no lock and no allocation: a slot's key is 0 (free),
//! [`BUSY`] (being written or read by one thread) or the OVERLAPPED
//! address; a thread owns a slot's data between a successful
//! compare-exchange to `BUSY` and the store that ends it. When every slot
//! is taken, an entry without a completion routine is replaced (a program
//! that collects completions some other way, GetQueuedCompletionStatus for
//! one, leaves its entries behind); entries with a routine are never
//! replaced, since the routine is called through them.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicUsize, Ordering};

/// Buffers kept per operation (the payload of a completion is read from
/// at most these).
pub const BUFS: usize = 4;
const SLOTS: usize = 128;
const BUSY: usize = 1;

/// One operation in flight.
#[derive(Clone, Copy, Default)]
pub struct Pending {
    pub socket: usize,
    /// Its function id (`Func as u16`).
    pub op: u16,
    /// The program's completion routine (0: none).
    pub routine: usize,
    /// Buffers `(address, length)`; `nbuf` of them are used (0 when the
    /// call recorded its payload already).
    pub bufs: [(usize, u32); BUFS],
    pub nbuf: usize,
}

struct Slot {
    key: AtomicUsize,
    data: UnsafeCell<Pending>,
}

// SAFETY: `data` is only touched by the thread that moved `key` to BUSY.
unsafe impl Sync for Slot {}

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        key: AtomicUsize::new(0),
        data: UnsafeCell::new(Pending {
            socket: 0,
            op: 0,
            routine: 0,
            bufs: [(0, 0); BUFS],
            nbuf: 0,
        }),
    }
}; SLOTS];

/// Claims the slot whose key is `from` (moves it to BUSY).
fn claim(slot: &Slot, from: usize) -> bool {
    slot.key
        .compare_exchange(from, BUSY, Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
}

/// Writes a claimed slot and publishes it under `ovl`.
fn fill(slot: &Slot, ovl: usize, p: Pending) {
    // SAFETY: this thread owns the slot (claimed).
    unsafe { *slot.data.get() = p };
    slot.key.store(ovl, Ordering::Release);
}

/// Records `p` under `ovl` (replacing an entry for the same OVERLAPPED).
/// False when no slot could be had: the completion then goes unnamed and,
/// for a routine, the routine is not wrapped.
pub fn put(ovl: usize, p: Pending) -> bool {
    if ovl <= BUSY {
        return false;
    }
    for from in [ovl, 0] {
        if let Some(s) = TABLE.iter().find(|s| claim(s, from)) {
            fill(s, ovl, p);
            return true;
        }
    }
    // Full: replace an entry that has no routine.
    for s in &TABLE {
        let key = s.key.load(Ordering::Relaxed);
        if key > BUSY && claim(s, key) {
            // SAFETY: claimed.
            let old = unsafe { *s.data.get() };
            if old.routine == 0 {
                fill(s, ovl, p);
                return true;
            }
            s.key.store(key, Ordering::Release);
        }
    }
    false
}

/// The entry for `ovl`, removed when `remove` (a peek leaves it).
fn find(ovl: usize, remove: bool) -> Option<Pending> {
    if ovl <= BUSY {
        return None;
    }
    for s in &TABLE {
        if s.key.load(Ordering::Relaxed) == ovl && claim(s, ovl) {
            // SAFETY: claimed.
            let p = unsafe { *s.data.get() };
            s.key.store(if remove { 0 } else { ovl }, Ordering::Release);
            return Some(p);
        }
    }
    None
}

/// Removes and returns the entry for `ovl`.
pub fn take(ovl: usize) -> Option<Pending> {
    find(ovl, true)
}

/// The entry for `ovl`, removed unless a completion routine still needs
/// it (WSAGetOverlappedResult on an operation with a routine).
pub fn finish(ovl: usize) -> Option<Pending> {
    let p = find(ovl, false)?;
    if p.routine == 0 {
        take(ovl);
    }
    Some(p)
}

/// The entry for `ovl`, left in place.
pub fn peek(ovl: usize) -> Option<Pending> {
    find(ovl, false)
}
