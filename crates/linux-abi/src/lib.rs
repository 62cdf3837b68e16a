//! Linux's numbers, whatever the host. The crates that decode and print
//! records (decode, xlat, print, config, collect) name Linux constants as
//! `libc::AF_INET6`, `libc::SO_RCVTIMEO`, ...: they depend on this crate
//! under the name `libc`. On Linux it is the libc crate itself (nothing
//! changes); on other targets (the Windows collector, `sock-trace.exe`) it
//! is that target's libc crate plus the Linux values of those constants
//! (`values.rs`), which is what a Linux record means wherever it is
//! decoded. Windows' own numbers live in the Windows constant tables
//! (`sock_trace_xlat::platform::WINDOWS`), not here.

pub use libc::*;

#[cfg(not(target_os = "linux"))]
macro_rules! linux_values {
    ($($name:ident: $ty:ty = $v:expr;)*) => {
        $(#[allow(non_upper_case_globals)] pub const $name: $ty = $v;)*
    };
}

#[cfg(not(target_os = "linux"))]
include!("values.rs");

#[cfg(all(test, target_os = "linux"))]
mod tests {
    macro_rules! linux_values {
        ($($name:ident: $ty:ty = $v:expr;)*) => {
            #[test]
            fn every_value_is_the_libc_crates() {
                $(assert_eq!(libc::$name as i128, $v as i128, stringify!($name));)*
            }
        };
    }
    include!("values.rs");
}
