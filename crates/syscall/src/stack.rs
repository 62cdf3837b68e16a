//! Return addresses above a Go program's system-call stub, read from the
//! stopped thread's stack.
//!
//! Go's system calls are made by small assembly stubs
//! (`runtime/internal/syscall.Syscall6`, `runtime.read`, `runtime.epollwait`,
//! ...) declared with a zero-size frame: they push no frame pointer, so at
//! the `syscall` instruction the stack pointer holds the stub's return
//! address and `rbp` is still the frame pointer of its Go caller. Go code
//! on x86_64 keeps frame pointers (`[rbp]` the caller's `rbp`, `[rbp+8]` the
//! return address), so the rest of the goroutine's stack is a linked list.
//!
//! The walk is bounded (at most [`MAX_GO_FRAMES`], frame pointers strictly
//! increasing, within [`MAX_SPAN`] of the stack pointer) and fault-safe:
//! memory is read with `process_vm_readv`, [`WINDOW`] bytes at a time (a
//! new window where the chain leaves the last one), and a frame that
//! cannot be read ends the walk. Garbage yields at worst a few wrong
//! addresses, never a crash or a long loop.

use crate::mem;

/// Frames collected beyond the stub (the collector skips the Go standard
/// library's and shows `--caller-depth` of the rest).
pub const MAX_GO_FRAMES: usize = 32;
/// Bytes of stack read at once.
const WINDOW: usize = 2048;
/// A frame pointer further than this above the stack pointer ends the
/// walk (goroutine stacks are contiguous; a jump this far is not a frame).
const MAX_SPAN: u64 = 1 << 20;

/// The return addresses above the stub, innermost first: `[rsp]`, then the
/// frame-pointer chain from `rbp`. `code` says whether an address lies in
/// the program's code (the first word must, or it is not a return
/// address and is left out).
pub fn go_frames(tid: u32, rsp: u64, rbp: u64, code: impl Fn(u64) -> bool) -> Vec<u64> {
    let mut out = Vec::new();
    if rsp == 0 || rsp % 8 != 0 {
        return out;
    }
    // A window of the stack, moved up when the chain leaves it: a deep
    // stack costs a few reads, a shallow one one.
    let mut buf = [0u8; WINDOW];
    let mut base = rsp;
    let mut len = mem::read(tid, rsp, &mut buf);
    let mut word = |addr: u64| -> Option<u64> {
        if addr < base || addr + 8 > base + len as u64 {
            base = addr & !7;
            len = mem::read(tid, base, &mut buf);
        }
        let off = (addr - base) as usize;
        Some(u64::from_le_bytes(
            buf[..len].get(off..off + 8)?.try_into().ok()?,
        ))
    };
    if let Some(ret) = word(rsp).filter(|&a| code(a)) {
        out.push(ret);
    }
    let mut fp = rbp;
    while out.len() < MAX_GO_FRAMES {
        if fp < rsp || fp % 8 != 0 || fp - rsp > MAX_SPAN {
            break;
        }
        let (Some(next), Some(ret)) = (word(fp), word(fp.wrapping_add(8))) else {
            break;
        };
        if ret == 0 || !code(ret) {
            break;
        }
        out.push(ret);
        if next <= fp {
            break;
        }
        fp = next;
    }
    out
}
