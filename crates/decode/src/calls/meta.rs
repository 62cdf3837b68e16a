//! Records the tracer itself emits: a process starting (or leaving for an
//! untraced program) and a count of lost records. A process start also
//! tells the [`Decoder`] which parent's sockets the process inherits.

use super::{arg, f, string};
use crate::value::{Event, Value};
use crate::Decoder;
use sock_trace_event::{role, Func, Record};

/// Decodes one call of this family into `ev`.
pub(super) fn decode(dec: &mut Decoder, rec: &Record<'_>, ev: &mut Event) {
    use Func::*;
    let pid = rec.header.pid;
    match ev.func {
        Pad | Module => {}
        ProcLeave => {
            ev.args = vec![
                f(
                    "reason",
                    Value::Int(arg(rec, 0).min(i64::MAX as u64) as i64),
                ),
                f("exe", string(rec, role::EXE, 1)),
            ];
        }
        ProcStart => {
            // args[1] is 1 when the record comes from the child side of a
            // fork, 0 for a new program image.
            let ppid = dec.process_started(pid, arg(rec, 0) as u32, arg(rec, 1) == 1);
            ev.args = vec![
                f("ppid", Value::Int(ppid as i64)),
                f("exe", string(rec, role::EXE, 1)),
            ];
            if let Some(argv) = rec.str(role::ARGV) {
                let list = argv
                    .split(|&b| b == 0)
                    .map(|a| Value::Str(a.to_vec()))
                    .collect();
                ev.args.push(f("argv", Value::List(list)));
            }
        }
        // The count is whatever the producer wrote: shown unsigned.
        Lost => {
            ev.args = vec![f(
                "count",
                Value::Int(arg(rec, 0).min(i64::MAX as u64) as i64),
            )]
        }
        // Calls of other families are dispatched elsewhere (`calls::decode`).
        _ => {}
    }
}
