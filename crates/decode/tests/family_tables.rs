//! Table tests, one table per call family (the files of `src/calls/`): a
//! record in, built with the preload library's own [`RecordWriter`] the way
//! the hooks fill it (docs/RECORDS.md); the text line and the JSON object
//! the printers make of the decoded event out, with fixed options.
//!
//! They pin what each family decoder produces, so that moving a decoder
//! (or changing the function table it is dispatched by) cannot change a
//! trace unnoticed. The rows of one table go through one [`Decoder`] in
//! order, as a trace does, so later rows see the sockets earlier rows made.
//!
//! These live under `tests/` because the printers depend on this crate:
//! only an integration test can use both.

use sock_trace_decode::Decoder;
use sock_trace_event::record::{role, Record};
use sock_trace_event::{Family, Func, Tag};
use sock_trace_print::{Clock, JsonOptions, JsonPrinter, Printer, TextOptions, TextPrinter};

#[allow(dead_code)]
#[path = "../benches/common/mod.rs"]
mod common;

use common::{getaddrinfo_blobs, record, sin};

/// One row: what the call is, its record, and the expected output.
struct Case {
    record: Vec<u8>,
    text: &'static str,
    json: &'static str,
}

/// Decodes the table's records in order and compares each printed line.
/// Every row must belong to `family`: the table is that family's file.
fn check(family: Family, table: &[Case]) {
    let mut dec = Decoder::new();
    // Fixed options: no timestamps or colour, zero clock, so lines depend
    // on the record only.
    let mut text = TextPrinter::new(TextOptions::plain(Clock::default()));
    let mut json = JsonPrinter::new(JsonOptions {
        clock: Clock::default(),
        max_string: 64,
    });
    let mut failures = Vec::new();
    for (i, case) in table.iter().enumerate() {
        let rec = Record::parse(&case.record).expect("a well-formed record");
        let ev = dec.decode(&rec).expect("an event for a traced call");
        assert_eq!(ev.func.family(), family, "row {i}: {:?}", ev.func);
        let mut t = Vec::new();
        text.event(&ev, &mut t);
        let mut j = Vec::new();
        json.event(&ev, &mut j);
        let (t, j) = (String::from_utf8(t).unwrap(), String::from_utf8(j).unwrap());
        if t.trim_end() != case.text || j.trim_end() != case.json {
            failures.push(format!(
                "row {i} ({}):\n  text: {}\n  want: {}\n  json: {}\n  want: {}",
                ev.func.name(),
                t.trim_end(),
                case.text,
                j.trim_end(),
                case.json
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn meta_records() {
    check(
        Family::Meta,
        &[
            Case {
                record: record(Func::ProcStart, &[1, 0], 0, 0, |w| {
                    w.blob(Tag::Str, role::EXE, b"/usr/bin/prog");
                    w.blob(Tag::Str, role::ARGV, b"prog\0-v");
                }),
                text: r#"+++ process 4242 started by 1: "/usr/bin/prog" "prog" "-v" +++"#,
                json: r#"{"type":"process","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"ppid":1,"exe":"/usr/bin/prog","argv":["prog","-v"]}"#,
            },
            Case {
                record: record(Func::Lost, &[3], 0, 0, |_| {}),
                text: r#"+++ 3 events lost +++"#,
                json: r#"{"type":"lost","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"count":3}"#,
            },
        ],
    );
}

#[test]
fn socket_setup_and_teardown() {
    check(
        Family::Socket,
        &[
            Case {
                record: record(
                    Func::Socket,
                    &[
                        libc::AF_INET as u64,
                        (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64,
                        0,
                    ],
                    3,
                    0,
                    |_| {},
                ),
                text: r#"socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 3"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"socket","fortified":false,"args":{"domain":"AF_INET","type":["SOCK_STREAM","SOCK_CLOEXEC"],"protocol":"IPPROTO_IP"},"result":{"value":3},"returned":{},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(
                    Func::Connect,
                    &[3, 0x7fff_1000, 16],
                    -1,
                    libc::EINPROGRESS,
                    |w| w.blob(Tag::SockAddr, role::ADDR, &sin([127, 0, 0, 1], 8080)),
                ),
                text: r#"connect(3, 127.0.0.1:8080, 16) = -1 EINPROGRESS (115) Operation now in progress <0.000012>"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"connect","fortified":false,"args":{"fd":3,"addr":{"family":"AF_INET","ip":"127.0.0.1","port":8080},"addrlen":16},"result":{"error":{"ret":-1,"space":"errno","code":115,"name":"EINPROGRESS","text":"Operation now in progress"}},"returned":{},"duration_us":12.345,"may_block":true,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(
                    Func::Getsockname,
                    &[3, 0x7fff_1000, 0x7fff_1100],
                    0,
                    0,
                    |w| w.blob(Tag::SockAddr, role::ADDR_OUT, &sin([127, 0, 0, 1], 40000)),
                ),
                text: r#"getsockname(3) = 0 => addr=127.0.0.1:40000"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"getsockname","fortified":false,"args":{"fd":3},"result":{"value":0},"returned":{"addr":{"family":"AF_INET","ip":"127.0.0.1","port":40000}},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(Func::Shutdown, &[3, libc::SHUT_WR as u64], 0, 0, |_| {}),
                text: r#"shutdown(3, SHUT_WR) = 0"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"shutdown","fortified":false,"args":{"fd":3,"how":"SHUT_WR"},"result":{"value":0},"returned":{},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(Func::Dup2, &[3, 7], 7, 0, |_| {}),
                text: r#"dup2(3, 7) = 7"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"dup2","fortified":false,"args":{"oldfd":3,"newfd":7},"result":{"value":7},"returned":{},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(Func::Close, &[3], 0, 0, |_| {}),
                text: r#"close(3) = 0 <0.000012>"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"close","fortified":false,"args":{"fd":3},"result":{"value":0},"returned":{},"duration_us":12.345,"may_block":true,"notes":[],"callers":[]}"#,
            },
        ],
    );
}

#[test]
fn options_and_control() {
    check(
        Family::Control,
        &[
            Case {
                record: record(
                    Func::Setsockopt,
                    &[
                        3,
                        libc::SOL_SOCKET as u64,
                        libc::SO_REUSEADDR as u64,
                        0x7fff_0000,
                        4,
                    ],
                    0,
                    0,
                    |w| w.blob(Tag::Bytes, role::OPTVAL, &1i32.to_ne_bytes()),
                ),
                text: r#"setsockopt(3, SOL_SOCKET, SO_REUSEADDR, 1, 4) = 0"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"setsockopt","fortified":false,"args":{"fd":3,"level":"SOL_SOCKET","optname":"SO_REUSEADDR","optval":1,"optlen":4},"result":{"value":0},"returned":{},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(
                    Func::Fcntl,
                    &[3, libc::F_SETFL as u64, libc::O_NONBLOCK as u64],
                    0,
                    0,
                    |_| {},
                ),
                text: r#"fcntl(3, F_SETFL, O_NONBLOCK) = 0"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"fcntl","fortified":false,"args":{"fd":3,"cmd":"F_SETFL","arg":["O_NONBLOCK"]},"result":{"value":0},"returned":{},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(Func::Fcntl, &[3, libc::F_GETFL as u64], 0x802, 0, |_| {}),
                text: r#"fcntl(3, F_GETFL) = O_RDWR|O_NONBLOCK"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"fcntl","fortified":false,"args":{"fd":3,"cmd":"F_GETFL"},"result":{"value":["O_RDWR","O_NONBLOCK"]},"returned":{},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(Func::Ioctl, &[3, libc::FIONREAD, 0x7fff_0000], 0, 0, |w| {
                    w.ints(role::ARG_VAL, &[12])
                }),
                text: r#"ioctl(3, FIONREAD) = 0 => value=12"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"ioctl","fortified":false,"args":{"fd":3,"request":"FIONREAD"},"result":{"value":0},"returned":{"value":12},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
        ],
    );
}

#[test]
fn sends_and_receives() {
    let request = b"GET / HTTP/1.1\r\n\r\n";
    check(
        Family::Send,
        &[Case {
            record: record(
                Func::Send,
                &[
                    3,
                    0x7fff_2000,
                    request.len() as u64,
                    libc::MSG_NOSIGNAL as u64,
                ],
                request.len() as i64,
                0,
                |w| w.blob(Tag::Bytes, role::DATA_OUT, request),
            ),
            text: r#"send(3, 18, MSG_NOSIGNAL) = 18 <0.000012>"#,
            json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"send","fortified":false,"args":{"fd":3,"len":18,"flags":["MSG_NOSIGNAL"]},"result":{"value":18},"returned":{},"duration_us":12.345,"may_block":true,"notes":[],"callers":[],"data":{"direction":"out","total":18,"buffers":[],"base64":"R0VUIC8gSFRUUC8xLjENCg0K"}}"#,
        }],
    );
    check(
        Family::Recv,
        &[
            Case {
                record: record(
                    Func::Recvfrom,
                    &[5, 0x7fff_3000, 512, 0, 0x7fff_3100, 0x7fff_3200],
                    4,
                    0,
                    |w| {
                        w.blob(Tag::SockAddr, role::ADDR_OUT, &sin([10, 0, 0, 2], 53));
                        w.blob(Tag::Bytes, role::DATA_IN, b"pong");
                    },
                ),
                text: r#"recvfrom(5, 512, 0) = 4 => addr=10.0.0.2:53 <0.000012>"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"recvfrom","fortified":false,"args":{"fd":5,"len":512,"flags":[]},"result":{"value":4},"returned":{"addr":{"family":"AF_INET","ip":"10.0.0.2","port":53}},"duration_us":12.345,"may_block":true,"notes":[],"callers":[],"data":{"direction":"in","total":4,"buffers":[],"base64":"cG9uZw=="}}"#,
            },
            Case {
                record: record(
                    Func::Recv,
                    &[5, 0x7fff_3000, 512, libc::MSG_DONTWAIT as u64],
                    -1,
                    libc::EAGAIN,
                    |_| {},
                ),
                text: r#"recv(5, 512, MSG_DONTWAIT) = -1 EAGAIN (11) Resource temporarily unavailable <0.000012>"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"recv","fortified":false,"args":{"fd":5,"len":512,"flags":["MSG_DONTWAIT"]},"result":{"error":{"ret":-1,"space":"errno","code":11,"name":"EAGAIN","text":"Resource temporarily unavailable"}},"returned":{},"duration_us":12.345,"may_block":true,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(Func::Readv, &[5, 0x7fff_3000, 2], 6, 0, |w| {
                    w.ints(role::IOV_LENS, &[4, 8]);
                    w.blob(Tag::Bytes, role::DATA_IN, b"abcdef");
                }),
                text: r#"readv(5, [4, 8], 2) = 6 <0.000012>"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"readv","fortified":false,"args":{"fd":5,"iov":[4,8],"iovcnt":2},"result":{"value":6},"returned":{},"duration_us":12.345,"may_block":true,"notes":[],"callers":[],"data":{"direction":"in","total":6,"buffers":[4,2],"base64":"YWJjZGVm"}}"#,
            },
        ],
    );
}

#[test]
fn polling() {
    check(
        Family::Poll,
        &[
            Case {
                record: record(Func::Poll, &[0x7fff_4000, 1, 200], 1, 0, |w| {
                    let mut entry = Vec::new();
                    entry.extend_from_slice(&3i32.to_ne_bytes());
                    entry.extend_from_slice(&(libc::POLLIN as u16).to_ne_bytes());
                    entry.extend_from_slice(&(libc::POLLIN as u16).to_ne_bytes());
                    w.blob(Tag::PollFds, 0, &entry);
                }),
                text: r#"poll([{fd=3, events=POLLIN}], 1, 200ms) = 1 => ready=[{fd=3, revents=POLLIN}] <0.000012>"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"poll","fortified":false,"args":{"fds":[{"fd":3,"events":["POLLIN"]}],"nfds":1,"timeout":{"sec":0.2}},"result":{"value":1},"returned":{"ready":[{"fd":3,"revents":["POLLIN"]}]},"duration_us":12.345,"may_block":true,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(
                    Func::EpollCreate1,
                    &[libc::EPOLL_CLOEXEC as u64],
                    4,
                    0,
                    |_| {},
                ),
                text: r#"epoll_create1(EPOLL_CLOEXEC) = 4"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"epoll_create1","fortified":false,"args":{"flags":["EPOLL_CLOEXEC"]},"result":{"value":4},"returned":{},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(
                    Func::EpollWait,
                    &[4, 0x7fff_5000, 8, u32::MAX as u64],
                    0,
                    0,
                    |w| w.blob(Tag::EpollEvents, 0, &[]),
                ),
                text: r#"epoll_wait(4, 8, infinite) = 0 => events=[] <0.000012>"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"epoll_wait","fortified":false,"args":{"epfd":4,"maxevents":8,"timeout":"infinite"},"result":{"value":0},"returned":{"events":[]},"duration_us":12.345,"may_block":true,"notes":[],"callers":[]}"#,
            },
        ],
    );
}

#[test]
fn resolution() {
    check(
        Family::Resolve,
        &[
            Case {
                record: record(
                    Func::Getaddrinfo,
                    &[0x7fff_6000, 0x7fff_6100, 0x7fff_6200, 0x7fff_6300],
                    0,
                    0,
                    |w| {
                        let answer = sin([192, 0, 2, 7], 80);
                        getaddrinfo_blobs(
                            w,
                            b"example.org",
                            libc::AF_INET,
                            &[(libc::AF_INET, &answer)],
                        )
                    },
                ),
                text: r#"getaddrinfo("example.org", "http", {flags=0, family=AF_INET, socktype=SOCK_STREAM, protocol=0}) = 0 => res=[{family=AF_INET, socktype=SOCK_STREAM, protocol=IPPROTO_TCP, addr=192.0.2.7:80}] <0.000012>"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"getaddrinfo","fortified":false,"args":{"node":"example.org","service":"http","hints":{"flags":[],"family":"AF_INET","socktype":["SOCK_STREAM"],"protocol":0}},"result":{"value":0},"returned":{"res":[{"family":"AF_INET","socktype":["SOCK_STREAM"],"protocol":"IPPROTO_TCP","addr":{"family":"AF_INET","ip":"192.0.2.7","port":80}}]},"duration_us":12.345,"may_block":true,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(Func::Gethostbyname, &[0x7fff_6000], 0, 1, |w| {
                    w.blob(Tag::Str, role::NODE, b"nowhere.invalid")
                }),
                text: r#"gethostbyname("nowhere.invalid") = NULL HOST_NOT_FOUND (1) Unknown host <0.000012>"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"gethostbyname","fortified":false,"args":{"name":"nowhere.invalid"},"result":{"error":{"ret":0,"space":"h_errno","code":1,"name":"HOST_NOT_FOUND","text":"Unknown host"}},"returned":{},"duration_us":12.345,"may_block":true,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(
                    Func::Getservbyname,
                    &[0x7fff_6000, 0x7fff_6100],
                    0,
                    0,
                    |w| {
                        w.blob(Tag::Str, role::NODE, b"gopher");
                        w.blob(Tag::Str, role::PROTO, b"tcp");
                    },
                ),
                text: r#"getservbyname("gopher", "tcp") = NULL"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"getservbyname","fortified":false,"args":{"name":"gopher","proto":"tcp"},"result":{"value":null},"returned":{},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
        ],
    );
}

#[test]
fn conversion_helpers() {
    check(
        Family::Helper,
        &[
            Case {
                record: record(Func::Htons, &[80], 0x5000, 0, |_| {}),
                text: r#"htons(80) = 20480"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"htons","fortified":false,"args":{"value":80},"result":{"value":20480},"returned":{},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
            Case {
                record: record(
                    Func::InetPton,
                    &[libc::AF_INET as u64, 0x7fff_7000, 0x7fff_7100],
                    1,
                    0,
                    |w| {
                        w.blob(Tag::Str, role::TEXT, b"192.0.2.1");
                        w.blob(Tag::Bytes, role::ADDR_OUT, &[192, 0, 2, 1]);
                    },
                ),
                text: r#"inet_pton(AF_INET, "192.0.2.1") = 1 => addr=192.0.2.1"#,
                json: r#"{"type":"call","time":1.000012345,"rel":1.000012345,"pid":4242,"tid":4242,"func":"inet_pton","fortified":false,"args":{"af":"AF_INET","src":"192.0.2.1"},"result":{"value":1},"returned":{"addr":"192.0.2.1"},"duration_us":12.345,"may_block":false,"notes":[],"callers":[]}"#,
            },
        ],
    );
}
