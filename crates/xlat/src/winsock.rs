//! Winsock-only constants (winsock2.h, ws2def.h, mswsock.h, mstcpip.h),
//! written from the documented values: WSASocket's flags, WSAPoll's
//! events, WSAIoctl's SIO_* codes and the extension-function GUIDs
//! SIO_GET_EXTENSION_FUNCTION_POINTER takes. The numbers both platforms
//! share, and the ones a decoder reads through [`crate::PlatformTables`],
//! are elsewhere.

use crate::{Kind, Xlat};

/// WSASocket's `dwFlags`.
pub static WSA_FLAG: Xlat = Xlat {
    name: "WSASocket flag",
    kind: Kind::Flags,
    entries: &[
        (0x01, "WSA_FLAG_OVERLAPPED"),
        (0x02, "WSA_FLAG_MULTIPOINT_C_ROOT"),
        (0x04, "WSA_FLAG_MULTIPOINT_C_LEAF"),
        (0x08, "WSA_FLAG_MULTIPOINT_D_ROOT"),
        (0x10, "WSA_FLAG_MULTIPOINT_D_LEAF"),
        (0x40, "WSA_FLAG_ACCESS_SYSTEM_SECURITY"),
        (0x80, "WSA_FLAG_NO_HANDLE_INHERIT"),
        (0x100, "WSA_FLAG_REGISTERED_IO"),
    ],
};

/// The `MSG_*` flags of send/recv and the WSA calls.
pub static WSA_MSG: Xlat = Xlat {
    name: "message flag",
    kind: Kind::Flags,
    entries: &[
        (0x0001, "MSG_OOB"),
        (0x0002, "MSG_PEEK"),
        (0x0004, "MSG_DONTROUTE"),
        (0x0008, "MSG_WAITALL"),
        (0x0010, "MSG_INTERRUPT"),
        (0x0020, "MSG_PUSH_IMMEDIATE"),
        (0x0100, "MSG_TRUNC"),
        (0x0200, "MSG_CTRUNC"),
        (0x0400, "MSG_BCAST"),
        (0x0800, "MSG_MCAST"),
        (0x8000, "MSG_PARTIAL"),
    ],
};

/// WSAPOLLFD events (POLLIN is RDNORM|RDBAND, POLLOUT is WRNORM: the
/// combined names come first, so they win when all their bits are set).
pub static WSA_POLL: Xlat = Xlat {
    name: "WSAPoll event",
    kind: Kind::Flags,
    entries: &[
        (0x0300, "POLLIN"),
        (0x0100, "POLLRDNORM"),
        (0x0200, "POLLRDBAND"),
        (0x0400, "POLLPRI"),
        (0x0010, "POLLOUT"),
        (0x0020, "POLLWRBAND"),
        (0x0001, "POLLERR"),
        (0x0002, "POLLHUP"),
        (0x0004, "POLLNVAL"),
    ],
};

/// WSAIoctl's control codes (and the ioctlsocket ones it also takes).
pub static SIO: Xlat = Xlat {
    name: "WSAIoctl code",
    kind: Kind::Values,
    entries: &[
        (0x8800_0001, "SIO_ASSOCIATE_HANDLE"),
        (0x2800_0002, "SIO_ENABLE_CIRCULAR_QUEUEING"),
        (0x4800_0003, "SIO_FIND_ROUTE"),
        (0x2800_0004, "SIO_FLUSH"),
        (0x4800_0005, "SIO_GET_BROADCAST_ADDRESS"),
        (0xc800_0006, "SIO_GET_EXTENSION_FUNCTION_POINTER"),
        (0xc800_0007, "SIO_GET_QOS"),
        (0xc800_0008, "SIO_GET_GROUP_QOS"),
        (0x8800_0009, "SIO_MULTIPOINT_LOOPBACK"),
        (0x8800_000a, "SIO_MULTICAST_SCOPE"),
        (0x8800_000b, "SIO_SET_QOS"),
        (0x8800_000c, "SIO_SET_GROUP_QOS"),
        (0xc800_000d, "SIO_TRANSLATE_HANDLE"),
        (0xc800_0014, "SIO_ROUTING_INTERFACE_QUERY"),
        (0x8800_0015, "SIO_ROUTING_INTERFACE_CHANGE"),
        (0x4800_0016, "SIO_ADDRESS_LIST_QUERY"),
        (0x2800_0017, "SIO_ADDRESS_LIST_CHANGE"),
        (0x4800_0018, "SIO_QUERY_TARGET_PNP_HANDLE"),
        (0xc800_0019, "SIO_ADDRESS_LIST_SORT"),
        (0x4800_001b, "SIO_BSP_HANDLE"),
        (0x4800_001c, "SIO_BSP_HANDLE_SELECT"),
        (0x4800_001d, "SIO_BSP_HANDLE_POLL"),
        (0xc800_001e, "SIO_EXT_SELECT"),
        (0xc800_001f, "SIO_EXT_POLL"),
        (0xc800_0020, "SIO_EXT_SENDMSG"),
        (0x4800_0022, "SIO_BASE_HANDLE"),
        (0x9800_0001, "SIO_RCVALL"),
        (0x9800_0002, "SIO_RCVALL_MCAST"),
        (0x9800_0003, "SIO_RCVALL_IGMPMCAST"),
        (0x9800_0004, "SIO_KEEPALIVE_VALS"),
        (0x9800_0005, "SIO_ABSORB_RTRALERT"),
        (0x9800_0006, "SIO_UCAST_IF"),
        (0x9800_0007, "SIO_LIMIT_BROADCASTS"),
        (0x9800_0008, "SIO_INDEX_BIND"),
        (0x9800_0009, "SIO_INDEX_MCASTIF"),
        (0x9800_000a, "SIO_INDEX_ADD_MCAST"),
        (0x9800_000b, "SIO_INDEX_DEL_MCAST"),
        (0x9800_000c, "SIO_UDP_CONNRESET"),
        (0x9800_000f, "SIO_UDP_NETRESET"),
        (0x9800_0010, "SIO_LOOPBACK_FAST_PATH"),
        (0x9800_0011, "SIO_TCP_INITIAL_RTO"),
        (0x4004_747b, "SIO_IDEAL_SEND_BACKLOG_QUERY"),
        (0x2000_747a, "SIO_IDEAL_SEND_BACKLOG_CHANGE"),
        (0x8004_667e, "FIONBIO"),
        (0x4004_667f, "FIONREAD"),
        (0x4004_7307, "SIOCATMARK"),
    ],
};

pub const SIO_GET_EXTENSION_FUNCTION_POINTER: u64 = 0xc800_0006;

/// A GUID as it lies in memory (Data1..3 little-endian, then Data4).
pub const fn guid(a: u32, b: u16, c: u16, d: [u8; 8]) -> [u8; 16] {
    let a = a.to_le_bytes();
    let (b, c) = (b.to_le_bytes(), c.to_le_bytes());
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d[0], d[1], d[2], d[3], d[4], d[5], d[6],
        d[7],
    ]
}

const MS: [u8; 8] = [0x95, 0xca, 0x00, 0x80, 0x5f, 0x48, 0xa1, 0x92];

/// The extension functions' GUIDs (mswsock.h), by name.
#[rustfmt::skip]
pub static WSAID: &[([u8; 16], &str)] = &[
    (guid(0xb536_7df1, 0xcbac, 0x11cf, MS), "WSAID_ACCEPTEX"),
    (guid(0x25a2_07b9, 0xddf3, 0x4660, [0x8e, 0xe9, 0x76, 0xe5, 0x8c, 0x74, 0x06, 0x3e]), "WSAID_CONNECTEX"),
    (guid(0x7fda_2e11, 0x8630, 0x436f, [0xa0, 0x31, 0xf5, 0x36, 0xa6, 0xee, 0xc1, 0x57]), "WSAID_DISCONNECTEX"),
    (guid(0xb536_7df2, 0xcbac, 0x11cf, MS), "WSAID_GETACCEPTEXSOCKADDRS"),
    (guid(0xb536_7df0, 0xcbac, 0x11cf, MS), "WSAID_TRANSMITFILE"),
    (guid(0xd968_9da0, 0x1f90, 0x11d3, [0x99, 0x71, 0x00, 0xc0, 0x4f, 0x68, 0xc8, 0x76]), "WSAID_TRANSMITPACKETS"),
    (guid(0xf689_d7c8, 0x6f1f, 0x436b, [0x8a, 0x53, 0xe5, 0x4f, 0xe3, 0x51, 0xc3, 0x22]), "WSAID_WSARECVMSG"),
    (guid(0xa441_e712, 0x754f, 0x43ca, [0x84, 0xa7, 0x0d, 0xee, 0x44, 0xcf, 0x60, 0x6d]), "WSAID_WSASENDMSG"),
    (guid(0x18c7_6f85, 0xdc66, 0x4964, [0x97, 0x2e, 0x23, 0xc2, 0x72, 0x38, 0x31, 0x2b]), "WSAID_WSAPOLL"),
    (guid(0x8509_e081, 0x96dd, 0x4005, [0xb1, 0x65, 0x9e, 0x2e, 0xe8, 0xc7, 0x9e, 0x3f]), "WSAID_MULTIPLE_RIO"),
];

/// The name of an extension function's GUID.
pub fn wsaid_name(g: &[u8]) -> Option<&'static str> {
    WSAID.iter().find(|(k, _)| k[..] == *g).map(|(_, n)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winsock_tables_read_the_documented_values() {
        assert_eq!(WSA_POLL.flags(0x0300).0, ["POLLIN"]);
        assert_eq!(
            WSA_POLL.flags(0x0112).0,
            ["POLLRDNORM", "POLLOUT", "POLLHUP"]
        );
        assert_eq!(
            SIO.lookup(SIO_GET_EXTENSION_FUNCTION_POINTER),
            Some("SIO_GET_EXTENSION_FUNCTION_POINTER")
        );
        assert_eq!(
            WSA_FLAG.flags(0x81).0,
            ["WSA_FLAG_OVERLAPPED", "WSA_FLAG_NO_HANDLE_INHERIT"]
        );
        let connectex = [
            0xb9, 0x07, 0xa2, 0x25, 0xf3, 0xdd, 0x60, 0x46, 0x8e, 0xe9, 0x76, 0xe5, 0x8c, 0x74,
            0x06, 0x3e,
        ];
        assert_eq!(wsaid_name(&connectex), Some("WSAID_CONNECTEX"));
    }
}
