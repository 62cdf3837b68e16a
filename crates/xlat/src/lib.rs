//! Socket API constants as data: Linux's, and through [`platform`] the
//! ones that differ on Windows.
//!
//! Each family of constants is one [`Xlat`] table: a name, a kind (plain
//! values or flag bits) and `(value, name)` pairs taken from the `libc`
//! crate's definitions, so a typo cannot slip in (and a test compiles a C
//! program against the system headers to check them anyway). Lookups never
//! lose information: an unknown value is reported as `None` for the caller
//! to print as a number, and unknown flag bits come back as a remainder.
//! errno, EAI and h_errno texts are generated data ([`errno`]).

pub mod errno;
pub mod platform;
mod tables;
pub mod winsock;

pub use platform::{PlatformTables, LINUX, WINDOWS};
pub use tables::*;

/// Whether a table names values or bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Values,
    Flags,
}

/// One constant table.
#[derive(Debug)]
pub struct Xlat {
    pub name: &'static str,
    pub kind: Kind,
    pub entries: &'static [(u64, &'static str)],
}

impl Xlat {
    /// The name of a value (first match wins for aliases).
    pub fn lookup(&self, v: u64) -> Option<&'static str> {
        self.entries.iter().find(|(k, _)| *k == v).map(|(_, n)| *n)
    }

    /// Flag names set in `v`, in table order, and the bits no entry names.
    /// Zero-valued entries never match.
    pub fn flags(&self, v: u64) -> (Vec<&'static str>, u64) {
        let mut names = Vec::new();
        let mut rest = v;
        for &(bits, name) in self.entries {
            if bits != 0 && v & bits == bits && rest & bits != 0 {
                names.push(name);
                rest &= !bits;
            }
        }
        (names, rest)
    }

    /// The value of a name.
    pub fn value_of(&self, name: &str) -> Option<u64> {
        self.entries
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(v, _)| *v)
    }
}

/// Declares a table: `xlat!(pub NAME, Kind, "what", [libc::X, ..., (NUM, "NAME")])`.
#[macro_export]
macro_rules! xlat {
    ($vis:vis $id:ident, $kind:ident, $what:literal, [ $( $e:tt ),* $(,)? ]) => {
        $vis static $id: $crate::Xlat = $crate::Xlat {
            name: $what,
            kind: $crate::Kind::$kind,
            entries: &[ $( $crate::xlat!(@entry $e) ),* ],
        };
    };
    (@entry ($v:expr, $n:literal)) => { (($v) as u64, $n) };
    (@entry $c:ident) => { (libc::$c as u64, stringify!($c)) };
}

/// The row of an error table (`(value, name, text)`: [`errno::ERRNO`],
/// [`errno::EAI`], [`errno::H_ERRNO`], a platform's `errors`) for a value.
pub fn error_entry(
    table: &'static [(i32, &'static str, &'static str)],
    e: i32,
) -> Option<&'static (i32, &'static str, &'static str)> {
    table.iter().find(|(v, _, _)| *v == e)
}

/// errno name: `ECONNREFUSED`.
pub fn errno_name(e: i32) -> Option<&'static str> {
    LINUX.error_name(e)
}

/// errno text as glibc's strerror gives it: `Connection refused`.
pub fn errno_text(e: i32) -> Option<&'static str> {
    LINUX.error_text(e)
}

pub fn eai_name(e: i32) -> Option<&'static str> {
    error_entry(errno::EAI, e).map(|r| r.1)
}

pub fn eai_text(e: i32) -> Option<&'static str> {
    error_entry(errno::EAI, e).map(|r| r.2)
}

pub fn h_errno_name(e: i32) -> Option<&'static str> {
    error_entry(errno::H_ERRNO, e).map(|r| r.1)
}

pub fn h_errno_text(e: i32) -> Option<&'static str> {
    error_entry(errno::H_ERRNO, e).map(|r| r.2)
}

/// The option table for a Linux `setsockopt` level. Level 1 is SOL_SOCKET
/// here (it is also IPPROTO_ICMP, which has no options of its own).
pub fn sockopt_table(level: i32) -> Option<&'static Xlat> {
    LINUX.option_table(level)
}

/// The name of a Linux `setsockopt` level.
pub fn level_name(level: i32) -> Option<&'static str> {
    LINUX.level_name(level)
}

#[cfg(test)]
mod tests;
