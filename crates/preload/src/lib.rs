//! `libsock_trace.so`: the code that runs inside the traced program.
//!
//! It exports the socket API's symbols; the dynamic loader binds the
//! program's calls to them because the library is in `LD_PRELOAD`. Each
//! hook calls the real function (`dlsym(RTLD_NEXT)`), then copies the
//! arguments and result into a binary record in a shared-memory ring (see
//! `sock-trace-event`). Nothing is formatted, allocated or locked here:
//! the collector (the `sock-trace` launcher) decodes, annotates and prints.
//!
//! Layout: [`hooks`] (the exported functions, by family, on one
//! skeleton), [`settings`] (what this process records), [`lifecycle`]
//! (init, fork, exec, thread exit), [`emit`] (the one path from a call to
//! a record in the ring), [`callers`] (return addresses and loaded
//! modules), [`capture`] (copying program memory safely), [`fds`] (which
//! descriptors are sockets), [`real`] (the next definitions), [`sys`] (raw
//! syscalls).
//!
//! Rules every hook follows are listed in `hooks`; the reasons are in
//! `docs/ARCHITECTURE.md` and `../shared/docs/preload-pitfalls.md`.

#![allow(clippy::missing_safety_doc)]

mod actions;
mod callers;
mod capture;
mod emit;
mod fds;
mod handover;
mod hooks;
mod leave;
mod lifecycle;
mod real;
mod settings;
mod standalone;
mod sys;

/// Self-test switches that let the test-suite prove a tracer failure never
/// reaches the program.
mod test_hooks {
    use sock_trace_event::Func;

    /// With the hidden capture flag set, recording `connect` panics inside
    /// the tracer (the panic must be caught; the program must not notice).
    #[inline(always)]
    pub fn should_panic(func: Func) -> bool {
        func == Func::Connect
            && crate::settings::capture_flags() & sock_trace_event::ring::CAPTURE_SELFTEST_PANIC
                != 0
    }
}

extern "C" fn constructor() {
    lifecycle::ensure_init();
}

#[used]
#[link_section = ".init_array"]
static INIT: extern "C" fn() = constructor;
