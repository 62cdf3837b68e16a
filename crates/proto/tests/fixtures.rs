//! Exact hints for bytes captured from real tools (see fixtures/README.md).

use sock_trace_proto::{hint, Transport};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn udp(local: u16, peer: u16, name: &str) -> Option<String> {
    hint(Transport::Udp, local, peer, true, &fixture(name))
}

fn tcp(local: u16, peer: u16, name: &str) -> Option<String> {
    hint(Transport::Tcp, local, peer, true, &fixture(name))
}

/// Each (fixture, hint): the fixture's bytes, moved between `local` and
/// `peer` over `transport`, give exactly that hint.
fn assert_hints(transport: Transport, local: u16, peer: u16, cases: &[(&str, &str)]) {
    for &(name, want) in cases {
        let got = hint(transport, local, peer, true, &fixture(name));
        assert_eq!(got.as_deref(), Some(want), "{name} ({local} -> {peer})");
    }
}

#[test]
fn dns_over_udp_from_dig() {
    for peer in [53, 40_001] {
        // Same result on the DNS port and, by content, off it.
        assert_hints(
            Transport::Udp,
            40_000,
            peer,
            &[
                ("dns_a_query.bin", "DNS query A www.example.test (id 0xea3c)"),
                ("dns_a_response.bin", "DNS response NOERROR www.example.test: CNAME example.test, A 192.0.2.1 (id 0xea3c)"),
                ("dns_aaaa_query.bin", "DNS query AAAA example.test (id 0xe4ed)"),
                ("dns_aaaa_response.bin", "DNS response NOERROR example.test: AAAA 2001:db8::1 (id 0xe4ed)"),
                ("dns_nx_query.bin", "DNS query A missing.example.test (id 0xa2bd)"),
                ("dns_nx_response.bin", "DNS response NXDOMAIN missing.example.test (id 0xa2bd)"),
            ],
        );
    }
}

#[test]
fn dns_over_tcp_from_dig() {
    assert_hints(
        Transport::Tcp,
        40_000,
        53,
        &[("dns_tcp_query.bin", "DNS query A example.test (id 0x9cf6)")],
    );
    assert_hints(
        Transport::Tcp,
        53,
        40_000,
        &[(
            "dns_tcp_response.bin",
            "DNS response NOERROR example.test: A 192.0.2.1 (id 0x9cf6)",
        )],
    );
}

#[test]
fn truncated_dns_response_on_dns_port_shows_what_parsed() {
    let b = fixture("dns_a_response.bin");
    // Cut inside the A record: the CNAME survives, the cut is marked.
    let h = hint(Transport::Udp, 40_000, 53, false, &b[..b.len() - 2]).unwrap();
    assert_eq!(
        h,
        "DNS response NOERROR www.example.test: CNAME example.test, ... (id 0xea3c)"
    );
    // Off the DNS ports a cut message is not trusted as DNS.
    assert_eq!(
        hint(Transport::Udp, 40_000, 40_001, false, &b[..b.len() - 2]),
        None
    );
}

#[test]
fn http_from_curl_and_python_http_server() {
    // Content, not port, decides: 40483 was the relay's random port.
    assert_hints(
        Transport::Tcp,
        51_000,
        40_483,
        &[
            (
                "http_request.bin",
                "HTTP GET /index.html HTTP/1.1 Host: localhost:40483",
            ),
            ("http_response.bin", "HTTP 200 OK (text/html, 13 bytes)"),
        ],
    );
}

#[test]
fn tls13_hellos_from_openssl() {
    assert_hints(
        Transport::Tcp,
        51_000,
        443,
        &[
            (
                "tls_client_hello.bin",
                "TLS ClientHello SNI=example.test ALPN=h2,http/1.1 (TLS 1.3)",
            ),
            // TLS 1.3 sends the chosen ALPN encrypted, after the ServerHello.
            (
                "tls_server_hello.bin",
                "TLS ServerHello TLS 1.3, TLS_AES_256_GCM_SHA384",
            ),
        ],
    );
}

#[test]
fn tls12_hellos_from_openssl() {
    assert_hints(
        Transport::Tcp,
        51_000,
        8443,
        &[
            (
                "tls12_client_hello.bin",
                "TLS ClientHello SNI=example.test ALPN=h2,http/1.1 (TLS 1.2)",
            ),
            (
                "tls12_server_hello.bin",
                "TLS ServerHello TLS 1.2, ALPN h2, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            ),
        ],
    );
}

#[test]
fn client_hello_cut_after_sni() {
    let b = fixture("tls_client_hello.bin");
    // Every prefix that reaches the extensions still names the server once
    // the SNI extension is complete, and marks the cut.
    let h = hint(Transport::Tcp, 1, 443, true, &b[..b.len() - 40]).unwrap();
    assert!(h.starts_with("TLS ClientHello SNI=example.test"), "{h}");
    assert!(h.ends_with(" ..."), "{h}");
}

#[test]
fn fixtures_are_not_mistaken_for_other_protocols() {
    // DNS bytes over TCP without the length prefix, off port 53.
    assert_eq!(tcp(40_000, 40_001, "dns_a_query.bin"), None);
    // TLS and HTTP are TCP-only here.
    assert_eq!(udp(40_000, 40_001, "tls_client_hello.bin"), None);
    assert_eq!(udp(40_000, 40_001, "http_request.bin"), None);
}
