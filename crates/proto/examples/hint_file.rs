//! Prints the hint for a file of captured bytes:
//! `cargo run --example hint_file -- tcp|udp LOCAL_PORT PEER_PORT FILE...`
use sock_trace_proto::{hint, Transport};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 4 {
        eprintln!("usage: hint_file tcp|udp LOCAL_PORT PEER_PORT FILE...");
        std::process::exit(2);
    }
    let transport = if args[0] == "udp" {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let local: u16 = args[1].parse().unwrap_or(0);
    let peer: u16 = args[2].parse().unwrap_or(0);
    for f in &args[3..] {
        match std::fs::read(f) {
            Ok(b) => println!("{f}: {:?}", hint(transport, local, peer, true, &b)),
            Err(e) => println!("{f}: {e}"),
        }
    }
}
