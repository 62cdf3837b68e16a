use super::*;
use std::collections::HashSet;

const ALL: &[&Xlat] = &[
    &AF,
    &SOCK_TYPE,
    &SOCK_FLAGS,
    &IPPROTO,
    &SOL,
    &SO,
    &TCP_OPT,
    &UDP_OPT,
    &IP_OPT,
    &IPV6_OPT,
    &MSG,
    &POLL,
    &EPOLL_EVENTS,
    &EPOLL_CTL,
    &EPOLL_FLAGS,
    &SHUT,
    &FCNTL_CMD,
    &O_FLAGS,
    &FD_FLAGS,
    &IOCTL,
    &AI_FLAGS,
    &NI_FLAGS,
    &TCP_STATE,
    &SOF_TIMESTAMPING,
    &SCM,
    &CLOSE_RANGE_FLAGS,
];

#[test]
fn no_table_repeats_a_name() {
    for t in ALL {
        let mut seen = HashSet::new();
        for (_, n) in t.entries {
            assert!(seen.insert(n), "{} repeats {n}", t.name);
        }
    }
}

#[test]
fn known_values() {
    assert_eq!(AF.lookup(2), Some("AF_INET"));
    assert_eq!(AF.lookup(10), Some("AF_INET6"));
    assert_eq!(SO.lookup(2), Some("SO_REUSEADDR"));
    assert_eq!(TCP_OPT.lookup(1), Some("TCP_NODELAY"));
    assert_eq!(errno_name(111), Some("ECONNREFUSED"));
    assert_eq!(errno_text(111), Some("Connection refused"));
    assert_eq!(errno_name(11), Some("EAGAIN"));
    assert_eq!(eai_name(-2), Some("EAI_NONAME"));
    assert_eq!(eai_text(-2), Some("Name or service not known"));
    assert_eq!(h_errno_name(1), Some("HOST_NOT_FOUND"));
    assert_eq!(level_name(1), Some("SOL_SOCKET"));
    assert_eq!(level_name(6), Some("SOL_TCP"));
    assert_eq!(
        SOCK_FLAGS.flags(0o2004000),
        (vec!["SOCK_NONBLOCK", "SOCK_CLOEXEC"], 0)
    );
    assert_eq!(
        SOF_TIMESTAMPING.flags(1 | 2 | 0x10),
        (
            vec![
                "SOF_TIMESTAMPING_TX_HARDWARE",
                "SOF_TIMESTAMPING_TX_SOFTWARE",
                "SOF_TIMESTAMPING_SOFTWARE"
            ],
            0
        )
    );
    assert_eq!(SCM.lookup(1), Some("SCM_RIGHTS"));
    assert_eq!(
        MSG.flags(0x40 | 0x8000_0000_0),
        (vec!["MSG_DONTWAIT"], 0x8000_0000_0)
    );
}

/// Compiles a C program that prints every constant from the system
/// headers and compares it with our tables.
#[test]
fn tables_agree_with_the_system_headers() {
    let mut names: Vec<(&str, u64)> = Vec::new();
    for t in ALL {
        if t.name == "TCP state" || t.name == "socket option level" {
            continue;
        }
        for &(v, n) in t.entries {
            names.push((n, v));
        }
    }
    let mut src = String::from(
        "#define _GNU_SOURCE\n#include <sys/socket.h>\n#include <netinet/in.h>\n#include <netinet/tcp.h>\n\
         #include <netinet/udp.h>\n#include <sys/ioctl.h>\n#include <linux/sockios.h>\n#include <poll.h>\n#include <sys/epoll.h>\n\
         #include <fcntl.h>\n#include <netdb.h>\n#include <stdio.h>\n#include <net/if.h>\n#include <linux/net_tstamp.h>\n#include <linux/close_range.h>\nint main(void){\n",
    );
    for (n, _) in &names {
        // The timestamping flags are enum constants (no #ifdef possible):
        // every one must exist in the headers.
        if n.starts_with("SOF_TIMESTAMPING_") {
            src.push_str(&format!(
                "printf(\"%s %llu\\n\", \"{n}\", (unsigned long long)({n}));\n"
            ));
            continue;
        }
        src.push_str(&format!(
            "#ifdef {n}\nprintf(\"%s %llu\\n\", \"{n}\", (unsigned long long)({n}));\n#endif\n"
        ));
    }
    src.push_str("return 0;}\n");
    let dir = std::env::temp_dir().join(format!("xlat-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("c.c"), src).unwrap();
    let st = std::process::Command::new("gcc")
        .arg("-o")
        .arg(dir.join("c"))
        .arg(dir.join("c.c"))
        .status();
    let Ok(st) = st else {
        eprintln!("SKIPPED: gcc not found");
        return;
    };
    assert!(st.success());
    let out = std::process::Command::new(dir.join("c")).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        let (n, v) = line.split_once(' ').unwrap();
        let v: u64 = v.parse().unwrap();
        let ours: Vec<u64> = names
            .iter()
            .filter(|(m, _)| *m == n)
            .map(|(_, v)| *v)
            .collect();
        // Flag values in our tables are bit patterns of the same width.
        assert!(
            ours.iter().any(|o| *o == v || *o as u32 as u64 == v),
            "{n}: headers say {v}, tables say {ours:?}"
        );
        checked += 1;
    }
    assert!(checked > 300, "only {checked} constants checked");
    // The timestamping flags have their own table, checked above; they
    // must all have been found in the headers.
    for &(_, n) in SOF_TIMESTAMPING.entries {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{n} "))),
            "{n} not in the headers"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
