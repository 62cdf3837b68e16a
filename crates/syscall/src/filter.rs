//! The seccomp-bpf program the traced child installs before its exec: the
//! traced system calls return `SECCOMP_RET_TRACE` (a ptrace stop), every
//! other call `SECCOMP_RET_ALLOW` (no stop, no cost beyond the filter).
//!
//! The numbers are x86_64's. A call made through another ABI (i386 via
//! `int 0x80`, or x32, whose numbers have bit 30 set) is allowed untraced:
//! its numbers mean other calls.

/// `AUDIT_ARCH_X86_64` (linux/audit.h).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

// Classic BPF opcodes.
const BPF_LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const BPF_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const BPF_JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter for `traced` system-call numbers (at most 200).
pub fn program(traced: &[i64]) -> Vec<libc::sock_filter> {
    let traced = &traced[..traced.len().min(200)];
    let n = traced.len();
    let mut p = Vec::with_capacity(n + 8);
    // [0] arch; [1] not x86_64 -> allow (skip to the allow at the end).
    p.push(stmt(BPF_LD_W_ABS, OFF_ARCH));
    // The allow is at index 4 + n, the trace at 5 + n.
    let allow_from = |at: usize| (4 + n - at - 1) as u8;
    p.push(jump(BPF_JEQ_K, AUDIT_ARCH_X86_64, 0, allow_from(1)));
    p.push(stmt(BPF_LD_W_ABS, OFF_NR));
    p.push(jump(BPF_JGE_K, X32_SYSCALL_BIT, allow_from(3), 0));
    for (i, &nr) in traced.iter().enumerate() {
        let at = 4 + i;
        // Jump to the trace return when equal.
        let to_trace = (5 + n - at - 1) as u8;
        p.push(jump(BPF_JEQ_K, nr as u32, to_trace, 0));
    }
    p.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    p.push(stmt(BPF_RET_K, SECCOMP_RET_TRACE));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the subset of classic BPF the program uses.
    fn run(p: &[libc::sock_filter], nr: u32, arch: u32) -> u32 {
        let mut pc = 0usize;
        let mut acc = 0u32;
        loop {
            let i = p[pc];
            match i.code {
                BPF_LD_W_ABS => acc = if i.k == OFF_NR { nr } else { arch },
                BPF_JEQ_K => {
                    pc += if acc == i.k { i.jt } else { i.jf } as usize;
                }
                BPF_JGE_K => {
                    pc += if acc >= i.k { i.jt } else { i.jf } as usize;
                }
                BPF_RET_K => return i.k,
                _ => panic!("opcode"),
            }
            pc += 1;
        }
    }

    #[test]
    fn traces_listed_calls_on_x86_64_only() {
        let p = program(&[41, 42, 3]);
        assert_eq!(run(&p, 41, AUDIT_ARCH_X86_64), SECCOMP_RET_TRACE);
        assert_eq!(run(&p, 3, AUDIT_ARCH_X86_64), SECCOMP_RET_TRACE);
        assert_eq!(run(&p, 39, AUDIT_ARCH_X86_64), SECCOMP_RET_ALLOW);
        assert_eq!(
            run(&p, 41 | X32_SYSCALL_BIT, AUDIT_ARCH_X86_64),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(run(&p, 41, 0x4000_0003), SECCOMP_RET_ALLOW);
        let empty = program(&[]);
        assert_eq!(run(&empty, 41, AUDIT_ARCH_X86_64), SECCOMP_RET_ALLOW);
    }
}
