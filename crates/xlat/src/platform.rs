//! The constants that differ between the platforms a trace can come from,
//! one [`PlatformTables`] per platform. The decoder picks the set by the
//! platform a process's start record names (`sock-trace-event`'s
//! `Platform`) and reads every platform-dependent number through it:
//! address families (`AF_INET6` is 10 on Linux, 23 on Windows), the
//! socket-level option level (`SOL_SOCKET` 1 or 0xffff) and its options,
//! and the error numbers (errno values, or Winsock's `WSAE*` codes).
//!
//! Tables whose values agree on both platforms (socket types, IP protocol
//! numbers, IP-level options) are shared. The Windows set here covers what
//! the decoders read through this seam; the Winsock DLL (its own issue)
//! adds the Winsock-only tables (SIO_* ioctls, WSA flags) beside it.

use crate::{Kind, Xlat};

/// The platform-dependent constants one decoder run uses.
#[derive(Debug)]
pub struct PlatformTables {
    pub name: &'static str,
    pub af: &'static Xlat,
    /// The values of the families whose addresses the decoder reads.
    pub af_unix: u16,
    pub af_inet: u16,
    pub af_inet6: u16,
    /// Linux only.
    pub af_netlink: Option<u16>,
    /// The level of socket options: `SOL_SOCKET`.
    pub sol_socket: i32,
    /// The options at `sol_socket`.
    pub socket_options: &'static Xlat,
    /// Option level names besides the IP protocol numbers (Linux's
    /// `SOL_*`).
    pub levels: Option<&'static Xlat>,
    /// Whether option values and control messages use the layouts the
    /// structured decoders know (Linux's); otherwise they show as integers
    /// or bytes.
    pub linux_layouts: bool,
    /// Error numbers: `(value, name, text)`.
    pub errors: &'static [(i32, &'static str, &'static str)],
}

impl PlatformTables {
    /// `ECONNREFUSED`, `WSAECONNREFUSED`.
    pub fn error_name(&self, e: i32) -> Option<&'static str> {
        crate::error_entry(self.errors, e).map(|r| r.1)
    }

    /// `Connection refused`.
    pub fn error_text(&self, e: i32) -> Option<&'static str> {
        crate::error_entry(self.errors, e).map(|r| r.2)
    }

    /// The name of a `setsockopt` level.
    pub fn level_name(&self, level: i32) -> Option<&'static str> {
        if level == self.sol_socket {
            return Some("SOL_SOCKET");
        }
        self.levels
            .and_then(|t| t.lookup(level as u64))
            .or_else(|| crate::IPPROTO.lookup(level as u64))
    }

    /// The option table for a `setsockopt` level.
    pub fn option_table(&self, level: i32) -> Option<&'static Xlat> {
        if level == self.sol_socket {
            return Some(self.socket_options);
        }
        Some(match level {
            libc::IPPROTO_TCP => &crate::TCP_OPT,
            libc::IPPROTO_IP => &crate::IP_OPT,
            libc::IPPROTO_IPV6 => &crate::IPV6_OPT,
            libc::IPPROTO_UDP => &crate::UDP_OPT,
            _ => return None,
        })
    }
}

pub static LINUX: PlatformTables = PlatformTables {
    name: "linux",
    af: &crate::AF,
    af_unix: libc::AF_UNIX as u16,
    af_inet: libc::AF_INET as u16,
    af_inet6: libc::AF_INET6 as u16,
    af_netlink: Some(libc::AF_NETLINK as u16),
    sol_socket: libc::SOL_SOCKET,
    socket_options: &crate::SO,
    levels: Some(&crate::SOL),
    linux_layouts: true,
    errors: crate::errno::ERRNO,
};

/// Winsock's values (winsock2.h, ws2def.h, ws2ipdef.h), written from the
/// documented constants.
pub static WINDOWS: PlatformTables = PlatformTables {
    name: "windows",
    af: &WINDOWS_AF,
    af_unix: 1,
    af_inet: 2,
    af_inet6: 23,
    af_netlink: None,
    sol_socket: 0xffff,
    socket_options: &WINDOWS_SO,
    levels: None,
    linux_layouts: false,
    errors: WSA_ERRORS,
};

static WINDOWS_AF: Xlat = Xlat {
    name: "address family",
    kind: Kind::Values,
    entries: &[
        (0, "AF_UNSPEC"),
        (1, "AF_UNIX"),
        (2, "AF_INET"),
        (6, "AF_IPX"),
        (16, "AF_APPLETALK"),
        (17, "AF_NETBIOS"),
        (23, "AF_INET6"),
        (26, "AF_IRDA"),
        (32, "AF_BTH"),
    ],
};

static WINDOWS_SO: Xlat = Xlat {
    name: "socket option",
    kind: Kind::Values,
    entries: &[
        (0x0001, "SO_DEBUG"),
        (0x0002, "SO_ACCEPTCONN"),
        (0x0004, "SO_REUSEADDR"),
        (0x0008, "SO_KEEPALIVE"),
        (0x0010, "SO_DONTROUTE"),
        (0x0020, "SO_BROADCAST"),
        (0x0040, "SO_USELOOPBACK"),
        (0x0080, "SO_LINGER"),
        (0x0100, "SO_OOBINLINE"),
        (0xff7f, "SO_DONTLINGER"),
        (0xfffb, "SO_EXCLUSIVEADDRUSE"),
        (0x1001, "SO_SNDBUF"),
        (0x1002, "SO_RCVBUF"),
        (0x1003, "SO_SNDLOWAT"),
        (0x1004, "SO_RCVLOWAT"),
        (0x1005, "SO_SNDTIMEO"),
        (0x1006, "SO_RCVTIMEO"),
        (0x1007, "SO_ERROR"),
        (0x1008, "SO_TYPE"),
        (0x2001, "SO_GROUP_ID"),
        (0x2002, "SO_GROUP_PRIORITY"),
        (0x2003, "SO_MAX_MSG_SIZE"),
        (0x2004, "SO_PROTOCOL_INFOA"),
        (0x2005, "SO_PROTOCOL_INFOW"),
        (0x3001, "PVD_CONFIG"),
        (0x3002, "SO_CONDITIONAL_ACCEPT"),
        (0x700b, "SO_UPDATE_ACCEPT_CONTEXT"),
        (0x700c, "SO_CONNECT_TIME"),
        (0x7010, "SO_UPDATE_CONNECT_CONTEXT"),
    ],
};

/// Winsock error codes (WSAGetLastError) with the short descriptions of
/// Microsoft's "Windows Sockets Error Codes" page.
#[rustfmt::skip]
pub static WSA_ERRORS: &[(i32, &str, &str)] = &[
    (6, "WSA_INVALID_HANDLE", "Specified event object handle is invalid"),
    (8, "WSA_NOT_ENOUGH_MEMORY", "Insufficient memory available"),
    (87, "WSA_INVALID_PARAMETER", "One or more parameters are invalid"),
    (995, "WSA_OPERATION_ABORTED", "Overlapped operation aborted"),
    (996, "WSA_IO_INCOMPLETE", "Overlapped I/O event object not in signaled state"),
    (997, "WSA_IO_PENDING", "Overlapped operations will complete later"),
    (10004, "WSAEINTR", "Interrupted function call"),
    (10009, "WSAEBADF", "File handle is not valid"),
    (10013, "WSAEACCES", "Permission denied"),
    (10014, "WSAEFAULT", "Bad address"),
    (10022, "WSAEINVAL", "Invalid argument"),
    (10024, "WSAEMFILE", "Too many open files"),
    (10035, "WSAEWOULDBLOCK", "Resource temporarily unavailable"),
    (10036, "WSAEINPROGRESS", "Operation now in progress"),
    (10037, "WSAEALREADY", "Operation already in progress"),
    (10038, "WSAENOTSOCK", "Socket operation on nonsocket"),
    (10039, "WSAEDESTADDRREQ", "Destination address required"),
    (10040, "WSAEMSGSIZE", "Message too long"),
    (10041, "WSAEPROTOTYPE", "Protocol wrong type for socket"),
    (10042, "WSAENOPROTOOPT", "Bad protocol option"),
    (10043, "WSAEPROTONOSUPPORT", "Protocol not supported"),
    (10044, "WSAESOCKTNOSUPPORT", "Socket type not supported"),
    (10045, "WSAEOPNOTSUPP", "Operation not supported"),
    (10046, "WSAEPFNOSUPPORT", "Protocol family not supported"),
    (10047, "WSAEAFNOSUPPORT", "Address family not supported by protocol family"),
    (10048, "WSAEADDRINUSE", "Address already in use"),
    (10049, "WSAEADDRNOTAVAIL", "Cannot assign requested address"),
    (10050, "WSAENETDOWN", "Network is down"),
    (10051, "WSAENETUNREACH", "Network is unreachable"),
    (10052, "WSAENETRESET", "Network dropped connection on reset"),
    (10053, "WSAECONNABORTED", "Software caused connection abort"),
    (10054, "WSAECONNRESET", "Connection reset by peer"),
    (10055, "WSAENOBUFS", "No buffer space available"),
    (10056, "WSAEISCONN", "Socket is already connected"),
    (10057, "WSAENOTCONN", "Socket is not connected"),
    (10058, "WSAESHUTDOWN", "Cannot send after socket shutdown"),
    (10059, "WSAETOOMANYREFS", "Too many references"),
    (10060, "WSAETIMEDOUT", "Connection timed out"),
    (10061, "WSAECONNREFUSED", "Connection refused"),
    (10062, "WSAELOOP", "Cannot translate name"),
    (10063, "WSAENAMETOOLONG", "Name too long"),
    (10064, "WSAEHOSTDOWN", "Host is down"),
    (10065, "WSAEHOSTUNREACH", "No route to host"),
    (10066, "WSAENOTEMPTY", "Directory not empty"),
    (10067, "WSAEPROCLIM", "Too many processes"),
    (10068, "WSAEUSERS", "User quota exceeded"),
    (10069, "WSAEDQUOT", "Disk quota exceeded"),
    (10070, "WSAESTALE", "Stale file handle reference"),
    (10071, "WSAEREMOTE", "Item is remote"),
    (10091, "WSASYSNOTREADY", "Network subsystem is unavailable"),
    (10092, "WSAVERNOTSUPPORTED", "Winsock.dll version out of range"),
    (10093, "WSANOTINITIALISED", "Successful WSAStartup not yet performed"),
    (10101, "WSAEDISCON", "Graceful shutdown in progress"),
    (10102, "WSAENOMORE", "No more results"),
    (10103, "WSAECANCELLED", "Call has been canceled"),
    (10104, "WSAEINVALIDPROCTABLE", "Procedure call table is invalid"),
    (10105, "WSAEINVALIDPROVIDER", "Service provider is invalid"),
    (10106, "WSAEPROVIDERFAILEDINIT", "Service provider failed to initialize"),
    (10107, "WSASYSCALLFAILURE", "System call failure"),
    (10108, "WSASERVICE_NOT_FOUND", "Service not found"),
    (10109, "WSATYPE_NOT_FOUND", "Class type not found"),
    (10110, "WSA_E_NO_MORE", "No more results"),
    (10111, "WSA_E_CANCELLED", "Call was canceled"),
    (10112, "WSAEREFUSED", "Database query was refused"),
    (11001, "WSAHOST_NOT_FOUND", "Host not found"),
    (11002, "WSATRY_AGAIN", "Nonauthoritative host not found"),
    (11003, "WSANO_RECOVERY", "This is a nonrecoverable error"),
    (11004, "WSANO_DATA", "Valid name, no data record of requested type"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_linux_set_is_the_linux_tables() {
        for &(e, name, text) in crate::errno::ERRNO {
            assert_eq!(LINUX.error_name(e), Some(name));
            assert_eq!(LINUX.error_text(e), Some(text));
        }
        for level in [libc::SOL_SOCKET, libc::IPPROTO_TCP, libc::IPPROTO_IPV6, 99] {
            assert_eq!(LINUX.level_name(level), crate::level_name(level), "{level}");
            assert_eq!(
                LINUX.option_table(level).map(|t| t.name),
                crate::sockopt_table(level).map(|t| t.name),
                "{level}"
            );
        }
    }

    #[test]
    fn windows_numbers_are_winsocks() {
        assert_eq!(WINDOWS.af.lookup(23), Some("AF_INET6"));
        assert_eq!(WINDOWS.af.lookup(10), None);
        assert_eq!(WINDOWS.level_name(0xffff), Some("SOL_SOCKET"));
        assert_eq!(WINDOWS.level_name(1), Some("IPPROTO_ICMP"));
        assert_eq!(
            WINDOWS.option_table(0xffff).and_then(|t| t.lookup(0x1006)),
            Some("SO_RCVTIMEO")
        );
        assert_eq!(WINDOWS.error_name(10061), Some("WSAECONNREFUSED"));
        assert_eq!(WINDOWS.error_name(111), None);
        let mut codes: Vec<i32> = WSA_ERRORS.iter().map(|e| e.0).collect();
        codes.dedup();
        assert_eq!(codes.len(), WSA_ERRORS.len(), "sorted and unique");
    }
}
